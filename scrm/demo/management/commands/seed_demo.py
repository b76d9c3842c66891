"""``manage.py seed_demo``: fill the database with a realistic demo company (see scrm/demo/generator.py)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from scrm.demo.services import (
    DEFAULT_CUSTOMERS,
    DEFAULT_PASSWORD,
    DEFAULT_SEED,
    DEMO_USERS,
    SIZES,
    DemoConflict,
    DemoDataExists,
    demo_password,
    demo_seed,
)


class Command(BaseCommand):
    help = (
        "Fill an empty database with a demo company: WeCom's side (departments, staff, customers and their "
        "friendships, corp tags, group chats) goes into the sandbox, the CRM syncs it through the WeCom "
        "client, then the history only the CRM holds is added (timeline, notes, stages, stores), plus the "
        "demo logins marketing, store_manager and guide. Deterministic for a given --seed and --base-date. "
        "Does nothing when customers already exist, unless --reset."
    )

    def add_arguments(self, parser):
        size = parser.add_mutually_exclusive_group()
        size.add_argument("--customers", type=int, help=f"How many customers (default {DEFAULT_CUSTOMERS}).")
        size.add_argument(
            "--size",
            choices=sorted(SIZES, key=SIZES.get),
            help="A named size: " + ", ".join(f"{k} = {v:,}" for k, v in SIZES.items()) + " customers.",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Random seed (default {DEFAULT_SEED})."
        )
        parser.add_argument(
            "--base-date",
            type=date.fromisoformat,
            help="Events span the 365 days before this date (YYYY-MM-DD; default today).",
        )
        parser.add_argument(
            "--no-sync",
            action="store_true",
            help="Only fill the sandbox (WeCom's side); the CRM stays empty until a sync.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the organisation, customers, tags, channels and groups first (on PostgreSQL, also "
            "every row that refers to them).",
        )

    def handle(self, *args, **options):
        customers = SIZES[options["size"]] if options["size"] else options["customers"] or DEFAULT_CUSTOMERS
        if customers < 1:
            raise CommandError("--customers must be at least 1.")
        verbose = options["verbosity"] >= 2

        def progress(message: str) -> None:
            if verbose:
                self.stdout.write(f"  … {message}")

        try:
            result = demo_seed(
                customers=customers,
                seed=options["seed"],
                base_date=options["base_date"],
                reset=options["reset"],
                progress=progress,
                sync=not options["no_sync"],
            )
        except DemoDataExists as exc:
            self.stdout.write(f"{exc} Nothing to do (use --reset to rebuild the demo data).")
            return
        except DemoConflict as exc:
            raise CommandError(str(exc)) from exc

        facts, size = result.facts, result.facts.size
        n = {label: f"{count:,}" for label, count in result.counts.items()}
        rate = result.rows / result.seconds if result.seconds else 0
        password = "$DEMO_ADMIN_PASSWORD" if demo_password() != DEFAULT_PASSWORD else DEFAULT_PASSWORD
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo company built in {result.seconds:.1f} s on {result.vendor}: "
                f"{result.rows:,} rows ({rate:,.0f} rows/s), seed {options['seed']}, "
                f"a year of events before {facts.base_date:%Y-%m-%d}."
            )
        )
        lines = [
            f"  organisation: {n['org.Department']} departments ({size.regions} regions, "
            f"{size.stores} stores), {n['org.Staff']} staff",
            f"  customers:    {n['customers.Customer']} customers, {n['customers.Follow']} follows, "
            f"{n['customers.CustomerEvent']} timeline events, {n['customers.CustomerNote']} notes",
            f"  tags:         {n['customers.Tag']} tags in {n['customers.TagGroup']} groups, "
            f"{n['customers.FollowTag']} tag assignments, {n['customers.FollowPersonalTag']} personal ones",
            f"  groups:       {n['groups.GroupChat']} group chats with {n['groups.GroupMember']} members; "
            f"{n['campaigns.Channel']} channels",
            "  timing:       " + ", ".join(f"{name} {sec:.1f} s" for name, sec in result.phases.items()),
            f"  logins:       {', '.join(DEMO_USERS)} (password {password}); store_manager manages "
            f"{facts.manager_department_name}, guide is {facts.guide_label}",
        ]
        box = {label.split(".")[1]: f"{count:,}" for label, count in result.sandbox.items()}
        lines.insert(
            0,
            f"  WeCom side:   the sandbox holds {box.get('SandboxMember', 0)} members, "
            f"{box.get('SandboxExternalContact', 0)} customers with "
            f"{box.get('SandboxFollow', 0)} friendships, "
            f"{box.get('SandboxGroupChat', 0)} group chats; "
            + ("the CRM synced them through the WeCom client" if result.synced else "not synced (--no-sync)"),
        )
        if result.also_emptied:
            lines.append(f"  also emptied: {', '.join(result.also_emptied)}")
        self.stdout.write("\n".join(lines))
