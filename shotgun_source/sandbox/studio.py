"""Deterministic studio generation: a seed, a scale and a time anchor -> every row.

Rows are built column by column (see columns.py) so a million Versions build in seconds.
Timestamps spread over the ~200 days before the anchor (the sandbox start time), with ties:
rows created in batches share a second and bulk updates stamp many rows with one
updated_at, because cursor boundaries on equal timestamps are where clients lose rows.

Values that the initial event log must repeat (the status or description an initial
`Shotgun_<Type>_Change` event set) come from a per-row hash rather than the sequential RNG,
so the event log (events.py) can recompute them without storing them.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import words
from .catalog import (
    ASSET_STATUSES,
    DELIVERABLE_STATUSES,
    FILE_STATUSES,
    NOTE_STATUSES,
    SHOT_STATUSES,
    TASK_STATUSES,
    USER_STATUSES,
    VERSION_STATUSES,
)
from .columns import (
    BoolColumn,
    Column,
    DerivedColumn,
    FloatColumn,
    IntColumn,
    NullColumn,
    ObjColumn,
    RefColumn,
    pack_ref,
)
from .schema import EntityTypeDef

DAY = 86400
_M64 = (1 << 64) - 1


def uuid_from_hash(h: int) -> str:
    """A version-4-shaped UUID string from a 64-bit hash (deterministic, not random)."""
    tail = f"{h & 0xFFFFFFFFFFFF:012x}"
    return f"{h >> 32:08x}-{(h >> 16) & 0xFFFF:04x}-4{h & 0xFFF:03x}-a{(h >> 8) & 0xFFF:03x}-{tail}"


def row_hash(seed: int, a: int, b: int, c: int = 0) -> int:
    """A 64-bit mix of (seed, a, b, c): per-row choices that can be recomputed later."""
    x = (seed * 0x9E3779B97F4A7C15 + a * 0xBF58476D1CE4E5B9 + b * 0x94D049BB133111EB + c) & _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@dataclass
class Credentials:
    """The logins the sandbox hands to tests: one script and one person."""

    script_name: str
    script_key: str
    login: str
    password: str


@dataclass
class TableData:
    """Generated content of one entity type."""

    n: int
    columns: dict[str, Column]
    retired_at: dict[int, int] = field(default_factory=dict)  # row -> retirement time


@dataclass
class StudioData:
    """Everything the site is built from."""

    anchor: int
    tables: dict[str, TableData]
    credentials: Credentials
    extra_scripts: dict[str, str]  # script name -> key (other ApiUsers)
    change_attr: dict[str, str]  # type -> attribute the initial Change events touched
    change_types: dict[str, str]  # type -> data type of that attribute
    change_values: Callable[[str, int], tuple[Any, Any]]  # (type, row) -> (old, new)


@dataclass
class Counts:
    """Rows per type for a scale (linear, with small floors so tiny scales still link up)."""

    users: int
    projects: int
    episodes: int
    sequences: int
    shots: int
    assets: int
    tasks: int
    versions: int
    published_files: int
    notes: int
    playlists: int
    timelogs: int
    deliverables: int

    @classmethod
    def for_scale(cls, scale: float, versions: int | None = None) -> Counts:
        def n(base: float, floor: int) -> int:
            return max(floor, round(base * scale))

        shots, assets = n(300, 4), n(160, 4)
        return cls(
            users=n(30, 4),
            projects=n(4, 2),
            episodes=2 * n(4, 2),
            sequences=n(20, 2),
            shots=shots,
            assets=assets,
            tasks=3 * (shots + assets),
            versions=n(1200, 4) if versions is None else max(0, versions),
            published_files=n(400, 2),
            notes=n(300, 2),
            playlists=n(20, 1),
            timelogs=n(300, 2),
            deliverables=n(100, 4),
        )


class RowValues:
    """Values derived from (seed, type, row) by hashing, so they can be recomputed later.

    The event log recomputes what an initial Change event set from these; bulky per-row
    values (Version thumbnails) are computed on read. Holding only the seed and the type
    definitions, this object keeps nothing of the generator alive.
    """

    def __init__(self, seed: int, codes: dict[str, int], defs: dict[str, EntityTypeDef]) -> None:
        self.seed = seed
        self.codes = codes
        self.defs = defs
        # frozen now: the history must not change when a test later edits the schema
        self.statuses = {
            name: status.valid_values
            for name, d in defs.items()
            if (status := d.field("sg_status_list")) is not None
        }

    def hpick(self, type_name: str, row: int, salt: int, n: int) -> int:
        return row_hash(self.seed, self.codes[type_name], row, salt) % n

    def status(self, type_name: str, row: int, values: tuple[str, ...]) -> str:
        return values[self.hpick(type_name, row, 1, len(values))]

    def description(self, type_name: str, row: int) -> str | None:
        h = row_hash(self.seed, self.codes[type_name], row, 2)
        if h % 10 < 3:
            return None
        return words.PHRASES[(h >> 8) % len(words.PHRASES)]

    def image_url(self, type_name: str, row: int, null_share: int = 3) -> str | None:
        """A thumbnail URL shaped like the signed S3 links real sites return, or null."""
        h = row_hash(self.seed, self.codes[type_name], row, 3)
        if h % 10 < null_share:
            return None
        rid = self.defs[type_name].id_base + row
        return (
            f"https://sandbox-media.invalid/{self.defs[type_name].slug}/{rid}/thumb_{h >> 40:06x}_t.jpg"
            f"?response-content-disposition=filename%3D%22thumb_t.jpg%22&X-Amz-Expires=900"
        )

    def change_values(self, type_name: str, row: int) -> tuple[Any, Any]:
        """(old, new) of the attribute an initial Change event of this row touched."""
        values = self.statuses.get(type_name)
        if values is not None:
            i = self.hpick(type_name, row, 1, len(values))
            return values[(i + 1) % len(values)], values[i]
        new = self.description(type_name, row)
        old = words.PHRASES[self.hpick(type_name, row, 4, len(words.PHRASES))]
        return (None if old == new else old), new


class StudioGenerator:
    """Builds StudioData; one instance per site build."""

    def __init__(
        self,
        catalog: list[EntityTypeDef],
        seed: int,
        scale: float,
        anchor: int,
        versions: int | None = None,
    ) -> None:
        self.seed = seed
        self.anchor = anchor
        self.counts = Counts.for_scale(scale, versions)
        self.defs = {d.name: d for d in catalog}
        self.codes = {d.name: i + 1 for i, d in enumerate(catalog)}
        self.values = RowValues(seed, self.codes, self.defs)
        self.tables: dict[str, TableData] = {}
        # remembered per type for cross references
        self.project_of: dict[str, list[int]] = {}  # type -> packed project ref per row
        self.code_of: dict[str, list[str]] = {}

    # helpers ------------------------------------------------------------------------
    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def ref(self, type_name: str, row: int) -> int:
        return pack_ref(self.codes[type_name], self.defs[type_name].id_base + row)

    def timeline(self, rng: random.Random, n: int, start_days: float, end_days: float) -> list[int]:
        """n sorted creation times between anchor-start_days and anchor-end_days, ~25% tied."""
        lo = self.anchor - int(start_days * DAY)
        span = int((start_days - end_days) * DAY)
        rnd = rng.random
        xs = sorted(lo + int(rnd() * span) for _ in range(n))
        for i in range(1, n):
            if rnd() < 0.25:
                xs[i] = xs[i - 1]
        return xs

    def updates(self, rng: random.Random, created: list[int], share: float = 0.45) -> list[int]:
        """updated_at per row: `share` of rows changed later, a tenth of those in bulk moments."""
        anchor = self.anchor
        rnd = rng.random
        moments = sorted(anchor - int(rnd() * 30 * DAY) for _ in range(12)) + [anchor]
        out = []
        for c in created:
            u = rnd()
            if u >= share:
                out.append(c)
            elif u < share * 0.1:
                m = moments[int(rnd() * len(moments))]
                out.append(m if m >= c else c)
            else:
                r = rnd()
                out.append(anchor - int((anchor - c) * r * r))
        return out

    def users_refs(self, rng: random.Random, n: int) -> list[int]:
        """created_by/updated_by: mostly people, sometimes a script."""
        humans, scripts = self.counts.users, len(self.api_user_names)
        rnd = rng.random
        out = []
        for _ in range(n):
            if rnd() < 0.1:
                out.append(self.ref("ApiUser", int(rnd() * scripts)))
            else:
                out.append(self.ref("HumanUser", int(rnd() * humans)))
        return out

    def common(
        self,
        type_name: str,
        rng: random.Random,
        n: int,
        start_days: float,
        end_days: float,
        retire_share: float = 0.0,
        update_share: float = 0.45,
    ) -> tuple[dict[str, Column], list[int], list[int], dict[int, int]]:
        """created/updated timestamps and authors, plus the initially retired rows."""
        created = self.timeline(rng, n, start_days, end_days)
        updated = self.updates(rng, created, update_share)
        cols: dict[str, Column] = {
            "created_at": IntColumn(created),
            "updated_at": IntColumn(updated),
            "created_by": RefColumn(self.users_refs(rng, n)),
            "updated_by": RefColumn(self.users_refs(rng, n)),
        }
        retired: dict[int, int] = {}
        if retire_share:
            rnd = rng.random
            for r in range(n):
                if rnd() < retire_share:
                    retired[r] = updated[r] + int((self.anchor - updated[r]) * rnd())
        return cols, created, updated, retired

    def status_column(self, type_name: str, n: int, values: tuple[str, ...]) -> ObjColumn:
        return ObjColumn(self.values.status(type_name, r, values) for r in range(n))

    def description_column(self, type_name: str, n: int) -> ObjColumn:
        return ObjColumn(self.values.description(type_name, r) for r in range(n))

    # types --------------------------------------------------------------------------
    @property
    def api_user_names(self) -> tuple[str, ...]:
        return ("sandbox_script", "event_daemon", "render_farm")

    def build(self) -> StudioData:
        self.gen_human_users()
        self.gen_api_users()
        self.gen_projects()
        self.gen_episodes()
        self.gen_sequences()
        self.gen_shots()
        self.gen_assets()
        self.gen_tasks()
        self.gen_playlists()
        self.gen_versions()
        self.gen_published_files()
        self.gen_notes()
        self.gen_timelogs()
        self.gen_deliverables()
        keys = {
            name: hashlib.sha256(f"sandbox-key:{self.seed}:{name}".encode()).hexdigest()[:40]
            for name in self.api_user_names
        }
        creds = Credentials(
            script_name=self.api_user_names[0],
            script_key=keys[self.api_user_names[0]],
            login="sandbox.admin",
            password=hashlib.sha256(f"sandbox-password:{self.seed}".encode()).hexdigest()[:20],
        )
        change_attr = {
            name: ("sg_status_list" if "sg_status_list" in (f.name for f in d.fields) else "description")
            for name, d in self.defs.items()
        }
        change_attr["Project"] = "sg_description"
        change_types = {}
        for t, a in change_attr.items():
            fd = self.defs[t].field(a)
            if fd is not None:
                change_types[t] = fd.data_type
        return StudioData(
            anchor=self.anchor,
            tables=self.tables,
            credentials=creds,
            extra_scripts={k: v for k, v in keys.items() if k != creds.script_name},
            change_attr=change_attr,
            change_types=change_types,
            change_values=self.values.change_values,
        )

    def gen_human_users(self) -> None:
        rng = self.rng("HumanUser")
        n = self.counts.users
        cols, _, _, _ = self.common("HumanUser", rng, n, 200, 190, update_share=0.2)
        firsts, lasts, logins = [], [], []
        for r in range(n):
            if r == 0:
                first, last, login = "Sandbox", "Admin", "sandbox.admin"
            else:
                first = words.FIRST_NAMES[(r * 7 + int(rng.random() * 3)) % len(words.FIRST_NAMES)]
                last = words.LAST_NAMES[(r * 11 + int(rng.random() * 5)) % len(words.LAST_NAMES)]
                login = f"{first}.{last}{r}".lower().replace("'", "")
            firsts.append(first)
            lasts.append(last)
            logins.append(login)
        statuses = [
            USER_STATUSES[0] if r == 0 else self.values.status("HumanUser", r, USER_STATUSES)
            for r in range(n)
        ]
        cols.update(
            name=ObjColumn(f"{f} {lname}" for f, lname in zip(firsts, lasts, strict=True)),
            firstname=ObjColumn(firsts),
            lastname=ObjColumn(lasts),
            login=ObjColumn(logins),
            email=ObjColumn(f"{lg}@sandbox-studio.invalid" for lg in logins),
            sg_status_list=ObjColumn(statuses),
            image=ObjColumn(self.values.image_url("HumanUser", r, 5) for r in range(n)),
            projects=ObjColumn(None for _ in range(n)),  # filled by gen_projects
        )
        # the first person exists from the start: nobody created it and it never changed
        cols["created_by"].set(0, None)
        cols["updated_by"].set(0, None)
        cols["updated_at"].set(0, cols["created_at"].get(0))
        self.tables["HumanUser"] = TableData(n, cols)

    def gen_api_users(self) -> None:
        rng = self.rng("ApiUser")
        names = self.api_user_names
        n = len(names)
        cols, _, _, _ = self.common("ApiUser", rng, n, 200, 199, update_share=0.0)
        cols.update(
            firstname=ObjColumn(names),
            lastname=ObjColumn(["1.0"] * n),
            description=ObjColumn(
                ["Sandbox integration script", "Listens to the event log", "Registers renders"]
            ),
            sg_status_list=ObjColumn(["act"] * n),
        )
        for r in range(n):
            cols["created_by"].set(r, self.ref("HumanUser", 0))
            cols["updated_by"].set(r, self.ref("HumanUser", 0))
        self.tables["ApiUser"] = TableData(n, cols)

    def gen_projects(self) -> None:
        rng = self.rng("Project")
        n = self.counts.projects
        cols, created, _, _ = self.common("Project", rng, n, 195, 180, update_share=0.5)
        pool = words.PROJECT_NAMES
        names = [pool[r % len(pool)] + ("" if r < len(pool) else f" {r // len(pool) + 1}") for r in range(n)]
        archived = [n >= 3 and r == n - 1 for r in range(n)]
        start = [(c // DAY) + int(rng.random() * 10) for c in created]
        users = self.counts.users
        members: list[tuple[int, ...]] = []
        for _ in range(n):
            k = 1 + int(rng.random() * min(8, users))
            picks = sorted({int(rng.random() * users) for _ in range(k)} | {0})
            members.append(tuple(self.ref("HumanUser", u) for u in picks))
        cols.update(
            name=ObjColumn(names),
            sg_description=ObjColumn(self.values.description("Project", r) for r in range(n)),
            sg_status=ObjColumn("Active" if not a else "Demo" for a in archived),
            sg_type=ObjColumn(("Feature", "Episodic", "Commercial", "Game")[r % 4] for r in range(n)),
            archived=BoolColumn(archived),
            start_date=IntColumn(start),
            end_date=IntColumn(None if r % 3 == 2 else s + 365 for r, s in enumerate(start)),
            image=ObjColumn(self.values.image_url("Project", r, 2) for r in range(n)),
            users=ObjColumn(members),
        )
        self.tables["Project"] = TableData(n, cols)
        # people list the projects they are members of
        user_projects: dict[int, list[int]] = {}
        for p, refs in enumerate(members):
            for ref in refs:
                user_projects.setdefault(ref, []).append(self.ref("Project", p))
        hu = self.tables["HumanUser"].columns["projects"]
        for r in range(self.counts.users):
            hu.set(r, tuple(user_projects.get(self.ref("HumanUser", r), ())) or None)

    def project_ref(self, row: int) -> int:
        return self.ref("Project", row % self.counts.projects)

    def gen_episodes(self) -> None:
        rng = self.rng("Episode")
        n = self.counts.episodes
        cols, _, _, _ = self.common("Episode", rng, n, 180, 150)
        projects = [self.project_ref(r // 2) for r in range(n)]
        codes = [f"EP{r % 2 + 1:02d}" for r in range(n)]
        cols.update(
            code=ObjColumn(codes),
            description=self.description_column("Episode", n),
            sg_status_list=self.status_column("Episode", n, ASSET_STATUSES),
            project=RefColumn(projects),
        )
        self.project_of["Episode"] = projects
        self.tables["Episode"] = TableData(n, cols)

    def gen_sequences(self) -> None:
        rng = self.rng("Sequence")
        n = self.counts.sequences
        cols, _, _, _ = self.common("Sequence", rng, n, 180, 150)
        projects = [self.project_ref(r) for r in range(n)]
        per_project: dict[int, int] = {}
        codes, episodes = [], []
        for r in range(n):
            k = per_project.get(projects[r], 0) + 1
            per_project[projects[r]] = k
            codes.append(f"SQ{k * 10:03d}")
            p = r % self.counts.projects
            episodes.append(self.ref("Episode", 2 * p + k % 2) if rng.random() < 0.5 else None)
        cols.update(
            code=ObjColumn(codes),
            description=self.description_column("Sequence", n),
            sg_status_list=self.status_column("Sequence", n, ASSET_STATUSES),
            project=RefColumn(projects),
            episode=RefColumn(episodes),
        )
        self.project_of["Sequence"] = projects
        self.code_of["Sequence"] = codes
        self.tables["Sequence"] = TableData(n, cols)

    def gen_shots(self) -> None:
        rng = self.rng("Shot")
        n = self.counts.shots
        cols, _, _, retired = self.common("Shot", rng, n, 170, 20, retire_share=0.02)
        n_seq = self.counts.sequences
        seq_rows = [r % n_seq for r in range(n)]
        per_seq: dict[int, int] = {}
        codes, cut_in, cut_out, dur = [], [], [], []
        assets: list[tuple[int, ...] | None] = []
        n_assets = self.counts.assets
        for r in range(n):
            s = seq_rows[r]
            k = per_seq.get(s, 0) + 1
            per_seq[s] = k
            codes.append(f"{self.code_of['Sequence'][s]}_{k * 10:04d}")
            d = 24 + int(rng.random() * 200)
            cut_in.append(1001)
            cut_out.append(1000 + d)
            dur.append(d if rng.random() < 0.9 else None)
            if rng.random() < 0.4:
                picks = {int(rng.random() * n_assets) for _ in range(1 + int(rng.random() * 3))}
                assets.append(tuple(self.ref("Asset", a) for a in sorted(picks)))
            else:
                assets.append(None)
        projects = [self.project_of["Sequence"][s] for s in seq_rows]
        cols.update(
            code=ObjColumn(codes),
            description=self.description_column("Shot", n),
            sg_status_list=self.status_column("Shot", n, SHOT_STATUSES),
            project=RefColumn(projects),
            sg_sequence=RefColumn(self.ref("Sequence", s) for s in seq_rows),
            sg_cut_in=IntColumn(cut_in),
            sg_cut_out=IntColumn(cut_out),
            sg_cut_duration=IntColumn(dur),
            sg_shot_type=ObjColumn(
                ("Plate", "CG", "Matte", "Reshoot", None)[int(rng.random() * 5)] for _ in range(n)
            ),
            image=ObjColumn(self.values.image_url("Shot", r) for r in range(n)),
            assets=ObjColumn(assets),
        )
        self.project_of["Shot"] = projects
        self.code_of["Shot"] = codes
        self.tables["Shot"] = TableData(n, cols, retired)

    def gen_assets(self) -> None:
        rng = self.rng("Asset")
        n = self.counts.assets
        cols, _, _, retired = self.common("Asset", rng, n, 170, 20, retire_share=0.02)
        types = list(words.ASSET_PREFIX)
        kinds, codes, parents = [], [], []
        for r in range(n):
            kind = types[int(rng.random() * len(types))]
            kinds.append(kind)
            word = words.ASSET_WORDS[int(rng.random() * len(words.ASSET_WORDS))]
            codes.append(f"{words.ASSET_PREFIX[kind]}_{word}_{r:03d}")
            parents.append((self.ref("Asset", int(rng.random() * r)),) if r and rng.random() < 0.1 else None)
        projects = [self.project_ref(r) for r in range(n)]
        cols.update(
            code=ObjColumn(codes),
            description=self.description_column("Asset", n),
            sg_asset_type=ObjColumn(k if rng.random() < 0.9 else None for k in kinds),
            sg_status_list=self.status_column("Asset", n, ASSET_STATUSES),
            project=RefColumn(projects),
            image=ObjColumn(self.values.image_url("Asset", r) for r in range(n)),
            sg_outsource=BoolColumn(rng.random() < 0.15 for _ in range(n)),
            parents=ObjColumn(parents),
        )
        self.project_of["Asset"] = projects
        self.code_of["Asset"] = codes
        self.tables["Asset"] = TableData(n, cols, retired)

    def gen_tasks(self) -> None:
        rng = self.rng("Task")
        n = self.counts.tasks
        cols, created, _, retired = self.common("Task", rng, n, 165, 10, retire_share=0.02)
        n_shots, n_assets, users = self.counts.shots, self.counts.assets, self.counts.users
        entities, projects, contents, starts, dues, durs, bids = [], [], [], [], [], [], []
        assignees: list[tuple[int, ...] | None] = []
        self.task_entity: list[int] = []
        for r in range(n):
            k = r // 3
            if k < n_shots:
                ent, proj = self.ref("Shot", k), self.project_of["Shot"][k]
                step = words.STEPS_SHOT[(r + k) % len(words.STEPS_SHOT)]
            else:
                a = (k - n_shots) % n_assets
                ent, proj = self.ref("Asset", a), self.project_of["Asset"][a]
                step = words.STEPS_ASSET[(r + a) % len(words.STEPS_ASSET)]
            entities.append(ent)
            projects.append(proj)
            contents.append(step)
            if rng.random() < 0.8:
                picks = {int(rng.random() * users) for _ in range(1 + int(rng.random() * 2))}
                assignees.append(tuple(self.ref("HumanUser", u) for u in sorted(picks)))
            else:
                assignees.append(None)
            start = created[r] // DAY + int(rng.random() * 20)
            days = 1 + int(rng.random() * 15)
            has_dates = rng.random() < 0.85
            starts.append(start if has_dates else None)
            dues.append(start + days if has_dates else None)
            durs.append(days * 8 * 60 if has_dates else None)
            bids.append(int(rng.random() * 40) * 60 if rng.random() < 0.7 else None)
        self.task_entity = entities
        cols.update(
            content=ObjColumn(contents),
            entity=RefColumn(entities),
            project=RefColumn(projects),
            sg_status_list=self.status_column("Task", n, TASK_STATUSES),
            task_assignees=ObjColumn(assignees),
            start_date=IntColumn(starts),
            due_date=IntColumn(dues),
            duration=IntColumn(durs),
            est_in_mins=IntColumn(bids),
        )
        self.project_of["Task"] = projects
        self.code_of["Task"] = contents
        self.tables["Task"] = TableData(n, cols, retired)

    def gen_playlists(self) -> None:
        rng = self.rng("Playlist")
        n = self.counts.playlists
        cols, created, _, _ = self.common("Playlist", rng, n, 150, 0)
        from .values import day_string

        cols.update(
            code=ObjColumn(f"Dailies {day_string(c // DAY)} #{r + 1}" for r, c in enumerate(created)),
            description=self.description_column("Playlist", n),
            project=RefColumn(self.project_ref(r) for r in range(n)),
            sg_date_and_time=IntColumn(c + 3600 * (1 + int(rng.random() * 6)) for c in created),
            locked=BoolColumn(rng.random() < 0.3 for _ in range(n)),
        )
        self.tables["Playlist"] = TableData(n, cols)

    def gen_versions(self) -> None:
        rng = self.rng("Version")
        n = self.counts.versions
        cols, created, _, retired = self.common("Version", rng, n, 160, 0, retire_share=0.02)
        rnd = rng.random
        n_tasks, users = self.counts.tasks, self.counts.users
        task_entity, task_project, task_step = self.task_entity, self.project_of["Task"], self.code_of["Task"]
        shot_codes, asset_codes = self.code_of["Shot"], self.code_of["Asset"]
        shot_code, shot_base = self.codes["Shot"], self.defs["Shot"].id_base
        asset_base = self.defs["Asset"].id_base
        task_base, task_code = self.defs["Task"].id_base, self.codes["Task"]
        user_base, user_code = self.defs["HumanUser"].id_base, self.codes["HumanUser"]
        counters = [0] * n_tasks
        codes: list[str] = []
        entity, sg_task, project, user = [], [], [], []
        rates: list[float | None] = []
        first, last, count, submitted, vtype, approved = [], [], [], [], [], []
        rate_choices = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 59.94)
        vtypes = ("Daily", "Daily", "Daily", "Review", "Final", "Temp", None)
        for r in range(n):
            t = int(rnd() * n_tasks)
            counters[t] += 1
            ent = task_entity[t]
            eid = ent & 0xFFFFFFFFFF
            ecode = shot_codes[eid - shot_base] if ent >> 40 == shot_code else asset_codes[eid - asset_base]
            codes.append(f"{ecode}_{task_step[t].lower()}_v{counters[t]:03d}")
            entity.append(ent)
            sg_task.append((task_code << 40) | (task_base + t))
            project.append(task_project[t])
            user.append((user_code << 40) | (user_base + int(rnd() * users)))
            u = rnd()
            rates.append(None if u < 0.1 else rate_choices[int(u * 70) % 7])
            f0 = 1001
            frames = 24 + int(rnd() * 200)
            first.append(f0 if u < 0.95 else None)
            last.append(f0 + frames - 1 if u < 0.95 else None)
            count.append(frames if u < 0.95 else None)
            submitted.append(created[r] // DAY if rnd() < 0.6 else None)
            vtype.append(vtypes[int(rnd() * 7)])
            approved.append(rnd() < 0.2)
        version_base = self.defs["Version"].id_base
        seed = self.seed

        def path(row: int) -> str:
            return f"/mnt/projects/show/versions/{version_base + row}/frames/frame.####.exr"

        def movie(row: int) -> dict[str, Any] | None:
            h = row_hash(seed, 9, row, 7)
            if h % 10 < 3:
                return None
            vid = version_base + row
            return {
                "url": f"https://sandbox-media.invalid/versions/{vid}/review_{h >> 44:05x}.mp4",
                "name": f"review_{vid}.mp4",
                "content_type": "video/mp4",
                "link_type": "upload",
                "type": "Attachment",
                "id": 500000 + row,
            }

        cols.update(
            code=ObjColumn(codes),
            description=ObjColumn(self.values.description("Version", r) for r in range(n)),
            sg_status_list=self.status_column("Version", n, VERSION_STATUSES),
            entity=RefColumn(entity),
            sg_task=RefColumn(sg_task),
            user=RefColumn(user),
            project=RefColumn(project),
            sg_uploaded_movie_frame_rate=FloatColumn(rates),
            sg_first_frame=IntColumn(first),
            sg_last_frame=IntColumn(last),
            frame_count=IntColumn(count),
            sg_submitted_date=IntColumn(submitted),
            sg_version_type=ObjColumn(vtype),
            sg_client_approved=BoolColumn(approved),
            sg_path_to_frames=DerivedColumn(path, n),
            sg_uploaded_movie=DerivedColumn(movie, n),
            image=DerivedColumn(functools.partial(self.values.image_url, "Version", null_share=2), n),
            sg_color_temperature=FloatColumn([None] * n),
            playlists=ObjColumn([None] * n),
        )
        # every playlist holds a handful of versions; the version lists its playlists
        playlists = cols["playlists"]
        for p in range(self.counts.playlists):
            for _ in range(min(n, 5 + int(rnd() * 25))):
                v = int(rnd() * n)
                cur = playlists.get(v) or ()
                ref = self.ref("Playlist", p)
                if ref not in cur:
                    playlists.set(v, (*cur, ref))
        self.project_of["Version"] = project
        self.code_of["Version"] = codes
        self.tables["Version"] = TableData(n, cols, retired)

    def gen_published_files(self) -> None:
        rng = self.rng("PublishedFile")
        n = self.counts.published_files
        cols, _, _, retired = self.common("PublishedFile", rng, n, 160, 0, retire_share=0.02)
        nv = self.counts.versions
        vcols = self.tables["Version"].columns
        exts = {
            "Maya Scene": "ma",
            "Nuke Script": "nk",
            "Alembic Cache": "abc",
            "Image Sequence": "exr",
            "USD": "usd",
        }
        kinds = list(exts)
        codes, names, ents, tasks, versions, projects, numbers, paths, types = ([] for _ in range(9))
        for r in range(n):
            kind = kinds[int(rng.random() * len(kinds))]
            if nv:
                v = int(rng.random() * nv)
                vcode = self.code_of["Version"][v]
                ents.append(vcols["entity"].get(v))
                tasks.append(vcols["sg_task"].get(v))
                versions.append(self.ref("Version", v) if rng.random() < 0.8 else None)
                projects.append(self.project_of["Version"][v])
            else:
                vcode = f"file_{r}"
                ents.append(None)
                tasks.append(None)
                versions.append(None)
                projects.append(self.project_ref(r))
            code = f"{vcode}.{exts[kind]}"
            codes.append(code)
            names.append(vcode.rsplit("_v", 1)[0])
            numbers.append(1 + int(rng.random() * 30))
            local = f"/mnt/projects/publish/{code}"
            paths.append(
                {
                    "local_path": local,
                    "local_path_linux": local,
                    "local_path_mac": local,
                    "local_path_windows": "P:\\publish\\" + code,
                    "url": f"file://{local}",
                    "name": code,
                    "link_type": "local",
                    "content_type": None,
                    "type": "Attachment",
                    "id": 800000 + r,
                }
            )
            types.append(kind)
        cols.update(
            code=ObjColumn(codes),
            name=ObjColumn(names),
            description=self.description_column("PublishedFile", n),
            entity=RefColumn(ents),
            task=RefColumn(tasks),
            version=RefColumn(versions),
            project=RefColumn(projects),
            version_number=IntColumn(numbers),
            path=ObjColumn(paths),
            sg_file_type=ObjColumn(types),
            sg_status_list=self.status_column("PublishedFile", n, FILE_STATUSES),
            image=ObjColumn(self.values.image_url("PublishedFile", r, 6) for r in range(n)),
        )
        self.tables["PublishedFile"] = TableData(n, cols, retired)

    def gen_notes(self) -> None:
        rng = self.rng("Note")
        n = self.counts.notes
        cols, _, _, retired = self.common("Note", rng, n, 160, 0, retire_share=0.02)
        users, n_shots, nv = self.counts.users, self.counts.shots, self.counts.versions
        links, authors, to, projects = [], [], [], []
        for _ in range(n):
            s = int(rng.random() * n_shots)
            refs = [self.ref("Shot", s)]
            if nv and rng.random() < 0.6:
                refs.append(self.ref("Version", int(rng.random() * nv)))
            links.append(tuple(refs))
            projects.append(self.project_of["Shot"][s])
            authors.append(self.ref("HumanUser", int(rng.random() * users)))
            to.append((self.ref("HumanUser", int(rng.random() * users)),) if rng.random() < 0.7 else None)
        cols.update(
            subject=ObjColumn(
                words.NOTE_SUBJECTS[int(rng.random() * len(words.NOTE_SUBJECTS))] for _ in range(n)
            ),
            content=self.description_column("Note", n),
            project=RefColumn(projects),
            note_links=ObjColumn(links),
            user=RefColumn(authors),
            addressings_to=ObjColumn(to),
            sg_status_list=self.status_column("Note", n, NOTE_STATUSES),
        )
        self.tables["Note"] = TableData(n, cols, retired)

    def gen_timelogs(self) -> None:
        rng = self.rng("TimeLog")
        n = self.counts.timelogs
        cols, created, _, retired = self.common("TimeLog", rng, n, 160, 0, retire_share=0.02)
        nt, users = self.counts.tasks, self.counts.users
        tasks = [int(rng.random() * nt) for _ in range(n)]
        cols.update(
            date=IntColumn(c // DAY for c in created),
            duration=IntColumn(15 * (1 + int(rng.random() * 32)) for _ in range(n)),
            description=ObjColumn(self.values.description("TimeLog", r) for r in range(n)),
            project=RefColumn(self.project_of["Task"][t] for t in tasks),
            entity=RefColumn(self.ref("Task", t) for t in tasks),
            user=RefColumn(self.ref("HumanUser", int(rng.random() * users)) for _ in range(n)),
        )
        self.tables["TimeLog"] = TableData(n, cols, retired)

    def gen_deliverables(self) -> None:
        """CustomEntity01: one field of every data type, realistic values and some nulls."""
        rng = self.rng("CustomEntity01")
        n = self.counts.deliverables
        cols, created, _, retired = self.common("CustomEntity01", rng, n, 170, 0, retire_share=0.03)
        rnd = rng.random

        def maybe(value: Any, null_share: float = 0.2) -> Any:
            return None if rnd() < null_share else value

        n_shots, n_assets = self.counts.shots, self.counts.assets
        settings, links, keywords, uuids, assets = [], [], [], [], []
        for r in range(n):
            settings.append(
                maybe(
                    {
                        "codec": ("prores", "h264", "dnxhd")[r % 3],
                        "resolution": [1920 + 128 * (r % 3), 1080],
                        "burn_in": rnd() < 0.5,
                        "notes": None if r % 4 else 'see "spec v2"',
                    }
                )
            )
            links.append(
                maybe(
                    {
                        "url": f"https://delivery.sandbox-studio.invalid/packages/{r + 1}",
                        "name": f"Package {r + 1}",
                        "content_type": None,
                        "link_type": "web",
                        "type": "Attachment",
                        "id": 900000 + r,
                    },
                    0.3,
                )
            )
            k = int(rnd() * 4)
            keywords.append(
                tuple(sorted({words.KEYWORDS[int(rnd() * len(words.KEYWORDS))] for _ in range(k)}))
            )
            h = row_hash(self.seed, 99, r, 5)
            uuids.append(maybe(uuid_from_hash(h), 0.1))
            picks = {int(rnd() * n_assets) for _ in range(int(rnd() * 3))}
            assets.append(tuple(self.ref("Asset", a) for a in sorted(picks)) or None)
        cols.update(
            code=ObjColumn(f"DLV_{r + 1:04d}" for r in range(n)),
            description=self.description_column("CustomEntity01", n),
            sg_status_list=self.status_column("CustomEntity01", n, DELIVERABLE_STATUSES),
            project=RefColumn(self.project_ref(r) for r in range(n)),
            sg_count=IntColumn(maybe(int(rnd() * 500) - 20) for _ in range(n)),
            sg_ratio=FloatColumn(maybe(round(rnd() * 3, 6)) for _ in range(n)),
            sg_approved=BoolColumn(rnd() < 0.4 for _ in range(n)),
            sg_due_date=IntColumn(maybe(c // DAY + int(rnd() * 60)) for c in created),
            sg_delivered_at=IntColumn(maybe(c + int(rnd() * 20 * DAY), 0.5) for c in created),
            sg_duration=IntColumn(maybe(int(rnd() * 5000)) for _ in range(n)),
            sg_progress=IntColumn(maybe(int(rnd() * 101)) for _ in range(n)),
            sg_timecode=IntColumn(maybe(int(rnd() * 3_600_000)) for _ in range(n)),
            sg_budget=FloatColumn(maybe(round(rnd() * 250000, 2)) for _ in range(n)),
            sg_category=ObjColumn(
                maybe(("Trailer", "Feature", "Teaser", "Still")[int(rnd() * 4)]) for _ in range(n)
            ),
            sg_settings=ObjColumn(settings),
            sg_link=ObjColumn(links),
            image=ObjColumn(self.values.image_url("CustomEntity01", r) for r in range(n)),
            sg_keywords=ObjColumn(keywords),
            sg_color=ObjColumn(maybe(words.CATEGORIES_COLOR[int(rnd() * 6)]) for _ in range(n)),
            sg_uuid=ObjColumn(uuids),
            sg_shot=RefColumn(maybe(self.ref("Shot", int(rnd() * n_shots)), 0.3) for _ in range(n)),
            sg_assets=ObjColumn(assets),
            sg_footage=ObjColumn(maybe(f"{int(rnd() * 200)}-{int(rnd() * 16):02d}") for _ in range(n)),
            sg_unused_float=FloatColumn([None] * n),
            step_0=NullColumn(),
        )
        self.tables["CustomEntity01"] = TableData(n, cols, retired)


def generate(
    catalog: list[EntityTypeDef], seed: int, scale: float, anchor: int, versions: int | None = None
) -> StudioData:
    """Build all rows of the studio for (seed, scale, anchor)."""
    return StudioGenerator(catalog, seed, scale, anchor, versions).build()
