"""Generates the demo company row by row, deterministically for a given seed and base date.

The generator knows nothing about databases: it hands tuples to a sink (``writers.py``), one table
at a time, with every id chosen here. Times are whole seconds since the epoch (UTC) and every
event lies in the 365 days before the base date, so the demo always looks a year old.

Sizes follow QUALITY.md's large data set (1,000,000 customers: 2,000 staff in 200 stores under 20
regions, about 1.3 million follows, 300 tags in 30 groups with about 4 million assignments,
20,000 groups with about 2 million memberships) and scale down in proportion, with a floor so
that the smallest demo still has a few stores, staff and groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from random import Random

from campaigns.models import Channel
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    LifecycleStage,
    PersonalTag,
    Tag,
    TagGroup,
)
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.org.models import Department, Staff, StaffDepartment

from . import data
from .columns import COLUMNS
from .draws import HEX_BYTES, HOUR_WEIGHTS, Clock, Picker, rand_digits, rand_text

YEAR_DAYS = 365

GROUP_CAPACITY = 500  # WeCom's member limit for a customer group


@dataclass(frozen=True)
class DemoSize:
    """How big each part of the company is for a number of customers."""

    customers: int
    regions: int
    stores: int
    staff: int
    groups: int

    @classmethod
    def for_customers(cls, customers: int) -> DemoSize:
        stores = max(3, round(customers / 5_000))
        regions = min(len(data.REGION_ORDER), max(2, round(stores / 10)))
        staff = max(10, round(customers / 500), stores * 2)  # at least a manager and a guide per store
        groups = max(3, round(customers / 50))
        return cls(customers=customers, regions=regions, stores=stores, staff=staff, groups=groups)


@dataclass
class DemoFacts:
    """What the caller needs to know about what was generated (for the demo logins and the summary)."""

    size: DemoSize
    base_date: date
    guide_staff_id: int = 0
    guide_label: str = ""
    manager_department_id: int = 0
    manager_department_name: str = ""


# --- Plain records of the organisation ------------------------------------------------------------


@dataclass(eq=False)
class _Store:
    index: int
    id: int
    name: str
    short: str
    slug: str
    city: str
    region: int
    weight: float
    staff: list[int] = field(default_factory=list)
    staff_picker: Picker | None = None
    groups: list[int] = field(default_factory=list)
    group_picker: Picker | None = None
    channels: tuple[str, str] = ("", "")


@dataclass(eq=False)
class _Staff:
    index: int
    id: int
    userid: str
    name: str
    store: int
    position: str
    weight: float
    departed_days: int = 0  # days before the base date; 0 while employed
    successor: int = -1
    personal_tags: list[int] = field(default_factory=list)


@dataclass(eq=False)
class _Group:
    id: int
    chat_id: str
    name: str
    store: int
    owner: int
    kind: str
    created_days: int
    dismissed_days: int = 0
    customers: int = 0  # current customer members


class DemoGenerator:
    """Builds the whole company into ``sink``; see the module docstring."""

    CHUNK = 5_000  # customers between progress reports

    def __init__(self, *, customers: int, seed: int, base_date: date, tz: tzinfo, progress=None):
        if customers < 1:
            raise ValueError("customers must be at least 1")
        self.size = DemoSize.for_customers(customers)
        self.rng = Random(seed)
        self.clock = Clock(base_date, tz)
        self.progress = progress or (lambda message: None)
        self.facts = DemoFacts(size=self.size, base_date=base_date)
        rng = self.rng
        # 4,096 local times of day, drawn by the hour weights; a few random seconds are added on use.
        hours = Picker(range(24), HOUR_WEIGHTS, bits=12)
        self.tod = [h * 3600 + rng.getrandbits(12) % 3536 for h in hours.table]
        rng.shuffle(self.tod)

    # --- small draws ------------------------------------------------------------------------------

    def _person(self, female: bool) -> tuple[str, str, str]:
        """(Chinese name, surname, userid-style pinyin) of a person."""
        rng = self.rng
        surname, surname_py = self._surname.pick(rng)
        given = data.GIVEN_FEMALE if female else data.GIVEN_MALE
        first, first_py = given[rng.getrandbits(16) % len(given)]
        if rng.random() < 0.7:
            second, second_py = given[rng.getrandbits(16) % len(given)]
            return surname + first + second, surname, surname_py + first_py + second_py
        return surname + first, surname, surname_py + first_py

    # --- the organisation -------------------------------------------------------------------------

    def _org(self, sink) -> None:
        rng, clock, size = self.rng, self.clock, self.size
        self._surname = Picker(data.SURNAMES, data.SURNAME_WEIGHTS, bits=12)
        created = clock.at(900, 10 * 3600)
        departments = sink.table(Department, COLUMNS[Department])
        dept_id = 0

        def department(wecom_id: int, name: str, parent: tuple[int, str] | None, order: int, is_store=False):
            nonlocal dept_id
            dept_id += 1
            path = f"{parent[1] if parent else '/'}{wecom_id}/"
            departments.add(
                (
                    dept_id,
                    wecom_id,
                    name,
                    parent[0] if parent else None,
                    order,
                    is_store,
                    path,
                    created,
                    created,
                )
            )
            return dept_id, path

        hq = department(1, data.HQ_NAME, None, 100_000_000)
        for i, name in enumerate(data.HQ_FUNCTIONS):
            department(2 + i, name, hq, 90_000_000 - i * 1000)

        # Regions open in REGION_ORDER, each under its area; only areas with a region are created.
        area_of = {city: area for area, cities in data.AREAS.items() for city in cities}
        cities = data.REGION_ORDER[: size.regions]
        area_nodes: dict[str, tuple[int, str]] = {}
        region_nodes: list[tuple[int, str]] = []
        for i, area in enumerate(data.AREAS):
            if any(area_of[c] == area for c in cities):
                area_nodes[area] = department(10 + i, area, hq, 80_000_000 - i * 1000)
        for i, city in enumerate(cities):
            region_nodes.append(
                department(100 + i, f"{city}区域", area_nodes[area_of[city]], 70_000_000 - i * 1000)
            )
        self.facts.manager_department_id = region_nodes[0][0]
        self.facts.manager_department_name = f"{cities[0]}区域"

        # Stores, dealt round-robin to the regions: landmarks first, then malls, then numbered.
        used_in_city: dict[str, int] = {}
        self.stores: list[_Store] = []
        for s in range(size.stores):
            region = s % size.regions
            city = cities[region]
            k = used_in_city.get(city, 0)
            used_in_city[city] = k + 1
            landmarks = data.LANDMARKS.get(city, [])
            if k < len(landmarks):
                place, slug = landmarks[k]
            else:
                m = k - len(landmarks)
                mall, mall_slug = data.MALLS[(m + region * 3) % len(data.MALLS)]
                lap = m // len(data.MALLS)
                place = mall + (f"{lap + 1}号" if lap else "")
                slug = f"{data.CITY_SLUGS[city]}_{mall_slug}{lap + 1 if lap else ''}"
            name = f"{city}{place}店"
            node = department(1000 + s, name, region_nodes[region], 60_000_000 - s * 100, is_store=True)
            weight = rng.lognormvariate(0, 0.45) * (1.4 if k == 0 else 1.0)
            self.stores.append(
                _Store(
                    index=s,
                    id=node[0],
                    name=name,
                    short=f"{place}店",
                    slug=slug,
                    city=city,
                    region=region,
                    weight=weight,
                )
            )
        self.region_stores = [[st for st in self.stores if st.region == r] for r in range(size.regions)]
        self.region_store_picker = [
            Picker(sts, [st.weight for st in sts], bits=10) for sts in self.region_stores
        ]
        self.store_picker = Picker(self.stores, [st.weight for st in self.stores], bits=16)

        # Staff: a manager per store, an assistant manager in bigger stores, guides.
        staff_table = sink.table(Staff, COLUMNS[Staff])
        memberships = sink.table(StaffDepartment, COLUMNS[StaffDepartment])
        personal = sink.table(PersonalTag, COLUMNS[PersonalTag])
        guide_positions = Picker(
            [p for p, _ in data.GUIDE_POSITIONS], [w for _, w in data.GUIDE_POSITIONS], 8
        )
        per_store, extra = divmod(size.staff, size.stores)
        self.staff: list[_Staff] = []
        userids: set[str] = set()
        personal_id = 0
        for store in self.stores:
            count = per_store + (1 if store.index < extra else 0)
            for k in range(count):
                index = len(self.staff)
                female = rng.random() < 0.75
                name, _, pinyin = self._person(female)
                userid = pinyin
                n = 1
                while userid in userids:
                    n += 1
                    userid = f"{pinyin}{n}"
                userids.add(userid)
                if k == 0:
                    position, weight = data.POSITION_MANAGER, 0.6
                elif k == 1 and count >= 6:
                    position, weight = data.POSITION_ASSISTANT_MANAGER, 0.8
                else:
                    position, weight = guide_positions.pick(rng), rng.lognormvariate(0, 0.5)
                member = _Staff(
                    index=index,
                    id=index + 1,
                    userid=userid,
                    name=name,
                    store=store.index,
                    position=position,
                    weight=weight,
                )
                # A few guides have left (at least one, so that the demo shows transfers); the demo
                # guide (second staff of the first store) has not.
                leaves = rng.random() < 0.02
                if store is self.stores[-1] and k == count - 1:
                    leaves = leaves or not any(m.departed_days for m in self.staff)
                if k >= 1 and not (store.index == 0 and k == 1) and leaves:
                    member.departed_days = 5 + rng.getrandbits(16) % 320
                    member.successor = store.staff[0]
                self.staff.append(member)
                store.staff.append(index)
                joined_days = 60 + rng.getrandbits(16) % 1700
                joined = clock.at(joined_days, 9 * 3600 + rng.getrandbits(12))
                departed = clock.at(member.departed_days, 18 * 3600) if member.departed_days else None
                staff_table.add(
                    (
                        member.id,
                        userid,
                        name,
                        store.id,
                        position,
                        "1" + rand_digits(rng, 10),
                        2 if female else 1,
                        f"https://wework.qpic.cn/wwpic/{rand_text(rng, 24)}/0",
                        "departed" if departed else "active",
                        departed,
                        joined,
                        joined,
                        departed or joined,
                    )
                )
                memberships.add((member.id, member.id, store.id, 0, k == 0))
                for tag in rng.sample(data.PERSONAL_TAGS, rng.getrandbits(8) % 5):
                    personal_id += 1
                    member.personal_tags.append(personal_id)
                    personal.add((personal_id, member.id, tag, data.PERSONAL_TAG_GROUP, joined))
            store.staff_picker = Picker(store.staff, [self.staff[i].weight for i in store.staff], bits=10)

        first = self.stores[0]
        guide = self.staff[first.staff[1]]
        self.facts.guide_staff_id = guide.id
        self.facts.guide_label = f"{guide.name} @ {first.name}"

    # --- tags and channels ------------------------------------------------------------------------

    def _tags(self, sink) -> None:
        rng, clock = self.rng, self.clock
        groups = sink.table(TagGroup, COLUMNS[TagGroup])
        tags = sink.table(Tag, COLUMNS[Tag])
        self.tag_name: dict[int, str] = {}
        self.tag_groups: list[tuple[float, int, Picker]] = []
        by_name: dict[tuple[str, str], int] = {}
        tag_id = 0
        n_groups = len(data.TAG_GROUPS)
        for g, (group_name, names, share, most, weights) in enumerate(data.TAG_GROUPS, start=1):
            created = clock.at(800 - g, 11 * 3600)
            groups.add((g, "et" + rand_text(rng, 30), group_name, n_groups - g + 1, created, created))
            ids = []
            for t, name in enumerate(names):
                tag_id += 1
                ids.append(tag_id)
                self.tag_name[tag_id] = name
                by_name[group_name, name] = tag_id
                tags.add((tag_id, g, "et" + rand_text(rng, 30), name, len(names) - t, created, created))
            self.tag_groups.append((share, most, Picker(ids, weights, bits=10)))
        self.level_tags = [by_name["会员等级", n] for n in data.TAG_GROUPS[0][1]]
        self.city_tags = {city: by_name.get(("所在城市", city)) for city in data.CITY_SLUGS}
        source = "渠道来源"
        self.source_tag = {
            "poster": by_name[source, "门店扫码"],
            "counter": by_name[source, "收银台台卡"],
            "mini_member": by_name[source, "小程序"],
            "mp_menu": by_name[source, "公众号"],
            "channels_live": by_name[source, "视频号"],
            "douyin_ad": by_name[source, "抖音"],
            "xhs_note": by_name[source, "小红书"],
            "meituan_card": by_name[source, "美团"],
            "eleme_card": by_name[source, "饿了么"],
            "tmall_package": by_name[source, "天猫旗舰店"],
            "jd_package": by_name[source, "京东"],
            "referral": by_name[source, "老客推荐"],
            "sms_coupon": by_name[source, "短信"],
        }
        self.source_group = [g for g, spec in enumerate(data.TAG_GROUPS) if spec[0] == source][0]
        self.city_group = [g for g, spec in enumerate(data.TAG_GROUPS) if spec[0] == "所在城市"][0]

    def _channels(self, sink) -> None:
        channels = sink.table(Channel, COLUMNS[Channel])
        created = self.clock.at(400, 10 * 3600)
        channel_id = 0
        for state, name, description in data.CAMPAIGN_CHANNELS:
            channel_id += 1
            channels.add((channel_id, state, name, description, created))
        for store in self.stores:
            store.channels = (f"poster_{store.slug}", f"counter_{store.slug}")
            channel_id += 1
            channels.add(
                (
                    channel_id,
                    store.channels[0],
                    f"{store.name}门店海报",
                    "门店橱窗与易拉宝上的企微活码",
                    created,
                )
            )
            channel_id += 1
            channels.add(
                (
                    channel_id,
                    store.channels[1],
                    f"{store.name}收银台台卡",
                    "收银台台卡：扫码加导购领券",
                    created,
                )
            )
        weights = {
            "mini_member": 10,
            "mp_menu": 8,
            "member_day": 6,
            "referral": 6,
            "double11_2026": 5,
            "mid618_2026": 5,
            "cny_2026": 4,
            "mooncake_2026": 4,
        }
        states = [state for state, *_ in data.CAMPAIGN_CHANNELS]
        self.campaign_state = Picker(states, [weights.get(s, 2) for s in states], bits=10)
        self.link_state = Picker(
            ["douyin_ad", "xhs_note", "sms_coupon", "channels_live"], [4, 3, 2, 1], bits=8
        )

    # --- groups, before their members -------------------------------------------------------------

    def _group_shells(self) -> None:
        rng = self.rng
        kinds = Picker([k for k, _, _ in data.GROUP_KINDS], [w for *_, w in data.GROUP_KINDS], bits=8)
        patterns = {k: p for k, p, _ in data.GROUP_KINDS}
        seen: dict[tuple[int, str], int] = {}
        self.groups: list[_Group] = []
        weights: list[float] = []
        for gid in range(1, self.size.groups + 1):
            store = self.store_picker.pick(rng)
            owner = store.staff_picker.pick(rng)
            kind = kinds.pick(rng)
            pattern = patterns[kind][rng.getrandbits(8) % len(patterns[kind])]
            n = seen.get((store.index, pattern), 0) + 1
            seen[store.index, pattern] = n
            created_days = 20 + rng.getrandbits(16) % 430
            group = _Group(
                id=gid,
                chat_id="wr" + rand_text(rng, 30),
                name=pattern.format(store=store.short, n=n),
                store=store.index,
                owner=owner,
                kind=kind,
                created_days=created_days,
            )
            if rng.random() < 0.03:
                group.dismissed_days = 1 + rng.getrandbits(16) % (created_days - 1)
            self.groups.append(group)
            store.groups.append(gid - 1)
            weights.append(rng.lognormvariate(0, 0.8))
        for store in self.stores:
            if store.groups:
                store.group_picker = Picker(store.groups, [weights[g] for g in store.groups], bits=10)

    # --- customers and everything hanging off them ------------------------------------------------

    def _customers(self, sink) -> None:  # noqa: C901 - one tight loop on purpose: it runs a million times
        rng, clock, size = self.rng, self.clock, self.size
        random_, getrandbits, expovariate = rng.random, rng.getrandbits, rng.expovariate
        tod = self.tod
        latest = clock.latest
        staff, stores, groups = self.staff, self.stores, self.groups

        add_customer = sink.table(Customer, COLUMNS[Customer]).add
        add_follow = sink.table(Follow, COLUMNS[Follow]).add
        add_follow_tag = sink.table(FollowTag, COLUMNS[FollowTag]).add
        add_personal = sink.table(FollowPersonalTag, COLUMNS[FollowPersonalTag]).add
        add_event = sink.table(CustomerEvent, COLUMNS[CustomerEvent]).add
        add_note = sink.table(CustomerNote, COLUMNS[CustomerNote]).add
        add_member = sink.table(GroupMember, COLUMNS[GroupMember]).add

        # Days on which customers first add a staff member: growing over the year, busier on weekends
        # and in campaign weeks.
        day_weights = []
        for d in range(1, YEAR_DAYS + 1):
            weekday = (clock.base_date - timedelta(days=d)).weekday()
            day_weights.append((0.45 + (YEAR_DAYS - d) / YEAR_DAYS) * (1.3 if weekday >= 5 else 1.0))
        for month, day, length, extra in data.PEAKS:
            start = clock.days_before(month, day)
            for d in range(start, max(0, start - length), -1):
                if 1 <= d <= YEAR_DAYS:
                    day_weights[d - 1] *= extra
        first_day = Picker(range(1, YEAR_DAYS + 1), day_weights, bits=16)

        follow_count = Picker([1, 2, 3, 4], [76, 17, 5.5, 1.5], bits=8)
        gender_pick = Picker([2, 1, 0], [55, 30, 15], bits=8)
        add_way_pick = Picker(
            [1, 2, 3, 4, 5, 6, 7, 10, 16, 201, 202], [55, 7, 5, 9, 2, 3, 4, 3, 6, 3, 3], bits=10
        )
        group_count = Picker([0, 1, 2, 3, 4, 5, 6], [28, 20, 17, 14, 10, 7, 4], bits=8)
        join_scene_pick = Picker([1, 2, 3], [45, 15, 40], bits=8)
        customer_initiated = {1, 7, 10, 16}
        order_means = [0.15, 0.3, 0.6, 1.2, 2.5]  # by member level: none, 普通, 银卡, 金卡, 钻石
        level_of = {tag: i + 1 for i, tag in enumerate(self.level_tags)}
        broadcasts = [
            (clock.days_before(m, d), title, "msg" + rand_text(rng, 24)) for m, d, title, _ in data.BROADCASTS
        ]
        broadcasts = [b for b in broadcasts if 1 <= b[0] <= YEAR_DAYS]
        tag_groups = self.tag_groups
        source_group, city_group = self.source_group, self.city_group
        source_tag, city_tags = self.source_tag, self.city_tags
        nicknames, decorations = data.NICKNAMES, data.NICKNAME_DECORATIONS
        products = data.PRODUCTS
        descriptions, notes = data.FOLLOW_DESCRIPTIONS, data.NOTES
        companies, company_positions = data.COMPANIES, data.COMPANY_POSITIONS
        person = self._person
        campaign_state, link_state = self.campaign_state, self.link_state
        store_picker, region_store_picker = self.store_picker, self.region_store_picker

        ACTIVE, BY_CUSTOMER, BY_STAFF, TRANSFERRED = (
            "active",
            "deleted_by_customer",
            "deleted_by_staff",
            "transferred",
        )
        ev_added, ev_tagged, ev_joined, ev_left = "added", "tagged", "joined_group", "left_group"
        ev_message, ev_order, ev_note, ev_transferred = "message_received", "order", "note", "transferred"
        WECOM, ADMIN, API, SYSTEM = "wecom", "admin", "api", "system"
        CHURNED, LOYAL, CONVERTED = (
            LifecycleStage.CHURNED.value,
            LifecycleStage.LOYAL.value,
            LifecycleStage.CONVERTED.value,
        )
        NEW, ACTIVE_STAGE, RETAINED = (
            LifecycleStage.NEW.value,
            LifecycleStage.ACTIVE.value,
            LifecycleStage.RETAINED.value,
        )

        follow_id = tag_link_id = personal_link_id = event_id = note_id = member_id = 0
        for cid in range(1, size.customers + 1):
            if cid % self.CHUNK == 0:
                self.progress(f"customers {cid:,}/{size.customers:,}")

            # --- who they are
            wecom_user = random_() < 0.03
            gender = gender_pick.pick(rng)
            female = gender == 2 or (gender == 0 and random_() < 0.5)
            real_name, surname, _ = person(female)
            roll = random_()
            if wecom_user or roll < 0.42:
                name = real_name
            elif roll < 0.55:
                name = surname + (data.WOMAN if female else data.MAN)
            else:
                name = nicknames[getrandbits(16) % len(nicknames)]
                if random_() < 0.25:
                    name += decorations[getrandbits(8) % len(decorations)]
            if wecom_user:
                external_userid = "wo" + rand_text(rng, 30)
                ctype, unionid = 2, ""
                corp, corp_full = companies[getrandbits(8) % len(companies)]
                position = company_positions[getrandbits(8) % len(company_positions)]
                avatar = f"https://wework.qpic.cn/wwhead/{rand_text(rng, 40)}/0"
            else:
                external_userid = "wm" + rand_text(rng, 30)
                ctype, corp, corp_full, position = 1, "", "", ""
                unionid = "o" + rand_text(rng, 27) if random_() < 0.65 else ""
                avatar = f"http://wx.qlogo.cn/mmhead/{rand_text(rng, 48)}/0"

            # --- whom they follow, and how they came
            home = store_picker.pick(rng)
            first_days = first_day.pick(rng)
            chosen = [home.staff_picker.pick(rng)]
            for _ in range(follow_count.pick(rng) - 1):
                if random_() < 0.75:
                    candidate = home.staff_picker.pick(rng)
                else:
                    candidate = region_store_picker[home.region].pick(rng).staff_picker.pick(rng)
                if candidate not in chosen:
                    chosen.append(candidate)
            plan = []  # (staff index, days before, add way, state)
            for k, s in enumerate(chosen):
                days = first_days if k == 0 else 1 + int(random_() * first_days)
                member = staff[s]
                if member.departed_days and days <= member.departed_days:
                    s = member.successor  # they had left by then: the store manager took the customer
                if any(p[0] == s for p in plan):
                    continue
                way = add_way_pick.pick(rng)
                if way == 1:
                    state = (
                        stores[staff[s].store].channels[getrandbits(1)]
                        if random_() < 0.6
                        else campaign_state.pick(rng)
                    )
                elif way == 16:
                    state = link_state.pick(rng)
                elif way == 10:
                    state = "channels_live"
                else:
                    state = ""
                plan.append((s, days, way, state))

            # --- what the company knows about them (tags on the first follow; others keep most)
            tag_set: list[int] = []
            for g, (share, most, picker) in enumerate(tag_groups):
                if random_() >= share:
                    continue
                if g == source_group:
                    state = plan[0][3]
                    key = state.split("_", 1)[0] if state.startswith(("poster_", "counter_")) else state
                    tag = source_tag.get(key) or picker.pick(rng)
                elif g == city_group:
                    tag = city_tags.get(home.city) or picker.pick(rng)
                else:
                    tag = picker.pick(rng)
                if tag not in tag_set:
                    tag_set.append(tag)
                if most > 1 and random_() < 0.35:
                    extra = picker.pick(rng)
                    if extra not in tag_set:
                        tag_set.append(extra)
            level = 0
            for tag in tag_set:
                if tag in level_of:
                    level = level_of[tag]

            # --- follows, their tags and their timeline
            events = []  # (days before, epoch, type, staff id, payload, source)
            active_tags: set[int] = set()
            active_days = []
            first_added = None
            home_staff_id = staff[plan[0][0]].id
            queue = list(plan)
            taken = {p[0] for p in plan}
            k = 0
            while k < len(queue):
                s, days, way, state = queue[k][:4]
                member = staff[s]
                follow_id += 1
                added = clock.at(days, tod[getrandbits(12)] + getrandbits(6))
                if first_added is None or added < first_added:
                    first_added = added
                if k == 0:
                    tags = tag_set
                elif k >= len(plan):
                    tags = queue[k][4] if len(queue[k]) > 4 else []
                else:
                    tags = [t for t in tag_set if random_() < 0.7]
                status, changed, changed_days = ACTIVE, None, 0
                if member.departed_days and days > member.departed_days:
                    status = TRANSFERRED
                    changed_days = max(1, member.departed_days - 1 - getrandbits(3))
                    changed = clock.at(changed_days, 10 * 3600 + getrandbits(14))
                    heir = member.successor
                    if heir not in taken:
                        taken.add(heir)
                        queue.append((heir, changed_days, 202, "", tags))
                    events.append(
                        (
                            changed_days,
                            changed,
                            ev_transferred,
                            member.id,
                            {"from": member.userid, "to": staff[heir].userid},
                            ADMIN,
                        )
                    )
                elif days > 1 and random_() < 0.10:
                    status = BY_CUSTOMER if random_() < 0.8 else BY_STAFF
                    changed_days = days - 1 - min(days - 2, int(expovariate(0.04)))
                    changed = clock.at(changed_days, tod[getrandbits(12)])
                    events.append(
                        (changed_days, changed, status, member.id, {"userid": member.userid}, WECOM)
                    )
                if status == ACTIVE:
                    active_tags.update(tags)
                    active_days.append(days)
                if way in customer_initiated:
                    oper = external_userid
                elif way == 202:
                    oper = ""
                else:
                    oper = member.userid
                roll = random_()
                if roll < 0.3:
                    remark = surname + (data.WOMAN if female else data.MAN)
                    if roll < 0.1:
                        remark += " 尾号" + rand_digits(rng, 4)
                else:
                    remark = ""
                add_follow(
                    (
                        follow_id,
                        cid,
                        member.id,
                        added,
                        way,
                        state,
                        remark,
                        descriptions[getrandbits(8) % len(descriptions)] if random_() < 0.08 else "",
                        corp,
                        ["1" + rand_digits(rng, 10)] if random_() < 0.15 else [],
                        oper,
                        status,
                        changed,
                        added,
                        changed or added,
                    )
                )
                payload = {"userid": member.userid, "add_way": way}
                if state:
                    payload["state"] = state
                events.append((days, added, ev_added, member.id, payload, WECOM))
                for tag in tags:
                    tag_link_id += 1
                    add_follow_tag((tag_link_id, follow_id, tag, added + 5))
                if tags and random_() < 0.3:
                    tagged = min(added + 600 + getrandbits(16), latest)
                    events.append(
                        (
                            days,
                            tagged,
                            ev_tagged,
                            member.id,
                            {"tags": [{"id": t, "name": self.tag_name[t]} for t in tags]},
                            ADMIN if random_() < 0.5 else WECOM,
                        )
                    )
                if member.personal_tags and random_() < 0.12:
                    personal_link_id += 1
                    pt = member.personal_tags[getrandbits(8) % len(member.personal_tags)]
                    add_personal((personal_link_id, follow_id, pt, added + 60))
                k += 1

            # --- groups they joined (their home store's groups, after they added its staff)
            if home.group_picker is not None:
                wanted = group_count.pick(rng)
                joined: list[int] = []
                for _ in range(wanted * 2):
                    if len(joined) >= wanted:
                        break
                    g = home.group_picker.pick(rng)
                    if g in joined:
                        continue
                    group = groups[g]
                    latest_days = min(first_days, group.created_days)
                    earliest_days = group.dismissed_days + 1
                    if latest_days < earliest_days or group.customers >= GROUP_CAPACITY - 3:
                        continue
                    joined.append(g)
                    span = latest_days - earliest_days
                    join_days = latest_days - min(span, int(expovariate(0.08)))
                    join_at = clock.at(join_days, tod[getrandbits(12)])
                    scene = join_scene_pick.pick(rng)
                    left_days, left_at, quit_scene = 0, None, None
                    if join_days > max(1, group.dismissed_days + 1) and random_() < 0.08:
                        left_days = join_days - 1 - int(random_() * (join_days - 1 - group.dismissed_days))
                        left_at = clock.at(left_days, tod[getrandbits(12)])
                        quit_scene = 0 if random_() < 0.9 else 1
                    else:
                        group.customers += 1
                    member_id += 1
                    owner = staff[group.owner]
                    add_member(
                        (
                            member_id,
                            group.id,
                            external_userid,
                            2,
                            cid,
                            None,
                            unionid,
                            name,
                            surname + ("姐" if female else "哥") if random_() < 0.1 else "",
                            join_at,
                            scene,
                            owner.userid if scene == 1 else "",
                            f"jw_{stores[group.store].slug}" if scene == 3 and random_() < 0.5 else "",
                            left_at,
                            quit_scene,
                        )
                    )
                    info = {"chat_id": group.chat_id, "name": group.name}
                    events.append((join_days, join_at, ev_joined, owner.id, info, WECOM))
                    if left_at is not None:
                        events.append((left_days, left_at, ev_left, owner.id, info, WECOM))

            # --- messages received from campaigns, and orders
            for days, title, msgid in broadcasts:
                if days < first_days and random_() < 0.05:
                    at = clock.at(days, 10 * 3600 + getrandbits(13))
                    events.append(
                        (days, at, ev_message, home_staff_id, {"title": title, "msgid": msgid}, SYSTEM)
                    )
            mean = order_means[level]
            go_on = mean / (1 + mean)
            orders = 0
            while orders < 12 and random_() < go_on:
                orders += 1
                days = 1 + int(random_() * first_days)
                at = clock.at(days, tod[getrandbits(12)])
                items, amount = [], 0
                for _ in range(1 + getrandbits(2) % 3):
                    product, price = products[getrandbits(8) % len(products)]
                    qty = 1 + getrandbits(1)
                    items.append(f"{product}×{qty}")
                    amount += price * qty
                day_text = (clock.base_date - timedelta(days=days)).strftime("%Y%m%d")
                events.append(
                    (
                        days,
                        at,
                        ev_order,
                        home_staff_id,
                        {
                            "order_no": f"SO{day_text}{cid:07d}{orders:02d}",
                            "amount": f"{amount}.00",
                            "items": items,
                            "store": home.name,
                        },
                        API,
                    )
                )
            if random_() < 0.03:
                note_id += 1
                body = notes[getrandbits(8) % len(notes)]
                days = 1 + int(random_() * first_days)
                at = clock.at(days, tod[getrandbits(12)])
                add_note((note_id, cid, home_staff_id, body, at))
                events.append((days, at, ev_note, home_staff_id, {"note_id": note_id, "text": body}, ADMIN))

            events.sort(key=lambda e: e[1])
            for _days, at, kind, staff_id, payload, source in events:
                event_id += 1
                add_event((event_id, cid, kind, at, staff_id, payload, source, at))

            # --- where they stand in the funnel
            if not active_days:
                stage = CHURNED
            elif orders >= 2:
                stage = LOYAL
            elif orders == 1:
                stage = CONVERTED
            elif max(active_days) <= 7:
                stage = NEW
            elif any(e[0] <= 30 for e in events):
                stage = ACTIVE_STAGE
            else:
                stage = RETAINED
            custom = {}
            if level and random_() < 0.6:
                custom = {"会员卡号": f"VIP{cid:08d}", "积分": getrandbits(16) % (2000 * level)}
                if random_() < 0.5:
                    year, month, day = (
                        1965 + getrandbits(6) % 42,
                        1 + getrandbits(4) % 12,
                        1 + getrandbits(5) % 28,
                    )
                    custom["生日"] = f"{year}-{month:02d}-{day:02d}"
            add_customer(
                (
                    cid,
                    external_userid,
                    name,
                    avatar,
                    ctype,
                    gender,
                    unionid,
                    corp,
                    corp_full,
                    position,
                    first_added,
                    stage,
                    custom,
                    sorted(active_tags),
                    first_added,
                    events[-1][1] if events else first_added,
                )
            )
        self.progress(f"customers {size.customers:,}/{size.customers:,}")

    # --- group rows, once their members are counted ----------------------------------------------

    def _groups(self, sink) -> None:
        rng, clock = self.rng, self.clock
        staff = self.staff
        tags = sink.table(GroupTag, COLUMNS[GroupTag])
        created = clock.at(500, 10 * 3600)
        for i, name in enumerate(data.GROUP_TAGS, start=1):
            tags.add((i, name, created))
        chats = sink.table(GroupChat, COLUMNS[GroupChat])
        chat_tags = sink.table(GroupChat.tags.through, COLUMNS[GroupChat.tags.through])
        members = sink.table(GroupMember, COLUMNS[GroupMember])
        member_id = sink.count(GroupMember)
        link_id = 0
        synced = clock.latest
        for group in self.groups:
            store = self.stores[group.store]
            owner = staff[group.owner]
            colleagues = [i for i in store.staff if i != group.owner and not staff[i].departed_days]
            admins = (
                rng.sample(colleagues, min(len(colleagues), rng.getrandbits(2) % 3))
                if rng.random() < 0.4
                else []
            )
            created_at = clock.at(group.created_days, 10 * 3600 + rng.getrandbits(14))
            status, owner_id, owner_userid = "normal", owner.id, owner.userid
            if group.dismissed_days:
                status = "dismissed"
            elif owner.departed_days:
                if owner.departed_days < 30:
                    status = "owner_departed"
                else:
                    heir = staff[owner.successor]
                    status, owner_id, owner_userid = "transferred", heir.id, heir.userid
            people = [owner_id] + [staff[i].id for i in admins if staff[i].id != owner_id]
            for n, person_id in enumerate(people):
                person = staff[person_id - 1]
                member_id += 1
                members.add(
                    (
                        member_id,
                        group.id,
                        person.userid,
                        1,
                        None,
                        person.id,
                        "",
                        person.name,
                        "",
                        created_at + n * 60,
                        0 if n == 0 else 1,
                        "" if n == 0 else owner_userid,
                        "",
                        None,
                        None,
                    )
                )
            chats.add(
                (
                    group.id,
                    group.chat_id,
                    group.name,
                    owner_id,
                    owner_userid,
                    [staff[i].userid for i in admins],
                    data.GROUP_NOTICES[rng.getrandbits(8) % len(data.GROUP_NOTICES)],
                    created_at,
                    status,
                    group.customers + len(people),
                    rand_text(rng, 32, HEX_BYTES),
                    group.kind,
                    store.id,
                    clock.at(group.dismissed_days, 20 * 3600) if group.dismissed_days else None,
                    synced,
                )
            )
            if rng.random() < 0.6:
                for tag in rng.sample(range(1, len(data.GROUP_TAGS) + 1), 1 + rng.getrandbits(1)):
                    link_id += 1
                    chat_tags.add((link_id, group.id, tag))

    def run(self, sink) -> DemoFacts:
        """Generate everything into ``sink`` and return what the caller needs to know."""
        self._org(sink)
        self._tags(sink)
        self._channels(sink)
        self._group_shells()
        self._customers(sink)
        self._groups(sink)
        return self.facts
