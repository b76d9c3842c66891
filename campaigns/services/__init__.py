"""Services of campaigns (writes and WeCom calls), one module per concept:

- ``livecodes``: pools, eligibility, distribution, the contact way and the count of each add;
- ``welcome``: welcome messages, their choice and rendering, and sending them on time;
- ``groupcodes``: group live codes over join ways, rotation of full groups;
- ``analytics``: channel figures by day;
- ``qr``: QR images and posters.
"""
