"""The studio's entity types and fields: what the sandbox site's schema page would show.

Field names follow stock ShotGrid where a stock field exists (`sg_status_list`, `entity`,
`sg_task`, `task_assignees`, `sg_uploaded_movie`, ...). CustomEntity01 ("Deliverable") holds
one field of every data type a client must handle, including one it cannot know
(`footage`), a `pivot_column` that is always null and a float that is null in every row.
EventLogEntry has no updated_at/created_by/updated_by, as on real sites: only `id` and
`created_at` order it.
"""

from __future__ import annotations

from .schema import EntityTypeDef, FieldDef

USER_TYPES = ("HumanUser", "ApiUser")

# Ids start at different bases per type, as on a real site where every table has its own
# sequence; a client that treats ids as row offsets or as unique across types shows up.
_BASES = {
    "HumanUser": 19,
    "ApiUser": 88,
    "Project": 63,
    "Episode": 5,
    "Sequence": 20,
    "Shot": 860,
    "Asset": 1200,
    "Task": 3400,
    "Version": 17000,
    "PublishedFile": 9000,
    "Note": 4000,
    "Playlist": 300,
    "TimeLog": 100,
    "CustomEntity01": 1,
    "EventLogEntry": 120000,
}

SHOT_STATUSES = ("wtg", "rdy", "ip", "rev", "fin", "omt", "hld")
ASSET_STATUSES = ("wtg", "ip", "fin")
TASK_STATUSES = ("wtg", "rdy", "ip", "rev", "fin", "hld")
VERSION_STATUSES = ("rev", "vwd", "apr", "na")
FILE_STATUSES = ("wtg", "ip", "cmpt")
NOTE_STATUSES = ("opn", "ip", "clsd")
USER_STATUSES = ("act", "dis")
DELIVERABLE_STATUSES = ("wtg", "ip", "fin", "omt")

_DISPLAY = {
    "wtg": "Waiting to Start",
    "rdy": "Ready to Start",
    "ip": "In Progress",
    "rev": "Pending Review",
    "fin": "Final",
    "omt": "Omit",
    "hld": "On Hold",
    "vwd": "Viewed",
    "apr": "Approved",
    "na": "N/A",
    "cmpt": "Complete",
    "opn": "Open",
    "clsd": "Closed",
    "act": "Active",
    "dis": "Disabled",
}


def _status(values: tuple[str, ...], default: str) -> FieldDef:
    return FieldDef(
        "sg_status_list",
        "status_list",
        "Status",
        valid_values=values,
        display_values={v: _DISPLAY[v] for v in values},
        default_value=default,
    )


def _link(name: str, types: tuple[str, ...], display: str = "", editable: bool = True) -> FieldDef:
    return FieldDef(name, "entity", display, valid_types=types, editable=editable)


def _links(name: str, types: tuple[str, ...], display: str = "") -> FieldDef:
    return FieldDef(name, "multi_entity", display, valid_types=types)


def _system_fields(project: bool) -> list[FieldDef]:
    fields = [
        FieldDef("id", "number", "Id", editable=False),
        FieldDef("created_at", "date_time", "Date Created", editable=False),
        FieldDef("updated_at", "date_time", "Date Updated", editable=False),
        _link("created_by", USER_TYPES, "Created by", editable=False),
        _link("updated_by", USER_TYPES, "Updated by", editable=False),
    ]
    if project:
        fields.append(_link("project", ("Project",), "Project"))
    return fields


def _text(name: str, display: str = "", mandatory: bool = False) -> FieldDef:
    return FieldDef(name, "text", display, mandatory=mandatory)


def build_catalog() -> list[EntityTypeDef]:
    """All entity types of the studio, in creation order (users first, events last)."""
    t: list[EntityTypeDef] = []

    def add(name: str, display: str, project: bool, fields: list[FieldDef]) -> None:
        t.append(EntityTypeDef(name, display, _BASES[name], _system_fields(project) + fields))

    add(
        "HumanUser",
        "Person",
        False,
        [
            _text("name", "Name"),
            _text("firstname", "First Name"),
            _text("lastname", "Last Name"),
            FieldDef("login", "text", "Login", unique=True),
            _text("email", "Email"),
            _status(USER_STATUSES, "act"),
            FieldDef("image", "image", "Thumbnail"),
            _links("projects", ("Project",), "Projects"),
        ],
    )
    add(
        "ApiUser",
        "Script",
        False,
        [
            _text("firstname", "Script Name"),
            _text("lastname", "Version"),
            _text("description", "Description"),
            _status(USER_STATUSES, "act"),
        ],
    )
    add(
        "Project",
        "Project",
        False,
        [
            _text("name", "Project Name", mandatory=True),
            _text("sg_description", "Description"),
            FieldDef("sg_status", "list", "Status", valid_values=("Active", "Bidding", "Demo", "Lost")),
            FieldDef("sg_type", "list", "Type", valid_values=("Feature", "Episodic", "Commercial", "Game")),
            FieldDef("archived", "checkbox", "Archived"),
            FieldDef("start_date", "date", "Start Date"),
            FieldDef("end_date", "date", "End Date"),
            FieldDef("image", "image", "Thumbnail"),
            _links("users", ("HumanUser",), "Users"),
        ],
    )
    add(
        "Episode",
        "Episode",
        True,
        [_text("code", "Episode Name", True), _text("description"), _status(ASSET_STATUSES, "wtg")],
    )
    add(
        "Sequence",
        "Sequence",
        True,
        [
            _text("code", "Sequence Name", True),
            _text("description"),
            _status(ASSET_STATUSES, "wtg"),
            _link("episode", ("Episode",), "Episode"),
        ],
    )
    add(
        "Shot",
        "Shot",
        True,
        [
            _text("code", "Shot Code", True),
            _text("description"),
            _status(SHOT_STATUSES, "wtg"),
            _link("sg_sequence", ("Sequence",), "Sequence"),
            FieldDef("sg_cut_in", "number", "Cut In"),
            FieldDef("sg_cut_out", "number", "Cut Out"),
            FieldDef("sg_cut_duration", "number", "Cut Duration"),
            FieldDef("sg_shot_type", "list", "Type", valid_values=("Plate", "CG", "Matte", "Reshoot")),
            FieldDef("image", "image", "Thumbnail"),
            _links("assets", ("Asset",), "Assets"),
        ],
    )
    add(
        "Asset",
        "Asset",
        True,
        [
            _text("code", "Asset Name", True),
            _text("description"),
            FieldDef(
                "sg_asset_type",
                "list",
                "Type",
                valid_values=("Character", "Environment", "Prop", "Vehicle", "FX", "Matte Painting"),
            ),
            _status(ASSET_STATUSES, "wtg"),
            FieldDef("image", "image", "Thumbnail"),
            FieldDef("sg_outsource", "checkbox", "Outsource"),
            _links("parents", ("Asset",), "Parent Assets"),
        ],
    )
    add(
        "Task",
        "Task",
        True,
        [
            _text("content", "Task Name", True),
            _link("entity", ("Shot", "Asset"), "Link"),
            _status(TASK_STATUSES, "wtg"),
            _links("task_assignees", ("HumanUser",), "Assigned To"),
            FieldDef("start_date", "date", "Start Date"),
            FieldDef("due_date", "date", "Due Date"),
            FieldDef("duration", "duration", "Duration"),
            FieldDef("est_in_mins", "duration", "Bid"),
        ],
    )
    add(
        "Version",
        "Version",
        True,
        [
            _text("code", "Version Name", True),
            _text("description"),
            _status(VERSION_STATUSES, "rev"),
            _link("entity", ("Shot", "Asset"), "Link"),
            _link("sg_task", ("Task",), "Task"),
            _link("user", ("HumanUser",), "Artist"),
            FieldDef("sg_uploaded_movie_frame_rate", "float", "Uploaded Movie Frame Rate"),
            FieldDef("sg_first_frame", "number", "First Frame"),
            FieldDef("sg_last_frame", "number", "Last Frame"),
            FieldDef("frame_count", "number", "Frame Count"),
            FieldDef("sg_submitted_date", "date", "Date Submitted"),
            FieldDef("sg_version_type", "list", "Type", valid_values=("Daily", "Review", "Final", "Temp")),
            FieldDef("sg_client_approved", "checkbox", "Client Approved"),
            _text("sg_path_to_frames", "Path to Frames"),
            FieldDef("sg_uploaded_movie", "url", "Uploaded Movie"),
            FieldDef("image", "image", "Thumbnail"),
            FieldDef("sg_color_temperature", "float", "Color Temperature"),
            _links("playlists", ("Playlist",), "Playlists"),
        ],
    )
    add(
        "PublishedFile",
        "Published File",
        True,
        [
            _text("code", "Published File Name", True),
            _text("name", "Name"),
            _text("description"),
            _link("entity", ("Shot", "Asset"), "Link"),
            _link("task", ("Task",), "Task"),
            _link("version", ("Version",), "Version"),
            FieldDef("version_number", "number", "Version Number"),
            FieldDef("path", "url", "Path"),
            FieldDef(
                "sg_file_type",
                "list",
                "File Type",
                valid_values=("Maya Scene", "Nuke Script", "Alembic Cache", "Image Sequence", "USD"),
            ),
            _status(FILE_STATUSES, "wtg"),
            FieldDef("image", "image", "Thumbnail"),
        ],
    )
    add(
        "Note",
        "Note",
        True,
        [
            _text("subject", "Subject"),
            _text("content", "Body"),
            _links("note_links", ("Shot", "Asset", "Version"), "Links"),
            _link("user", ("HumanUser", "ApiUser"), "Author"),
            _links("addressings_to", ("HumanUser",), "To"),
            _status(NOTE_STATUSES, "opn"),
        ],
    )
    add(
        "Playlist",
        "Playlist",
        True,
        [
            _text("code", "Playlist Name", True),
            _text("description"),
            FieldDef("sg_date_and_time", "date_time", "Date and Time"),
            FieldDef("locked", "checkbox", "Locked"),
        ],
    )
    add(
        "TimeLog",
        "Time Log",
        True,
        [
            FieldDef("date", "date", "Date"),
            FieldDef("duration", "duration", "Duration"),
            _text("description"),
            _link("entity", ("Task",), "Link"),
            _link("user", ("HumanUser",), "Person"),
        ],
    )
    add(
        "CustomEntity01",
        "Deliverable",
        True,
        [
            _text("code", "Deliverable Name", True),
            _text("description"),
            _status(DELIVERABLE_STATUSES, "wtg"),
            FieldDef("sg_count", "number", "Count"),
            FieldDef("sg_ratio", "float", "Ratio"),
            FieldDef("sg_approved", "checkbox", "Approved"),
            FieldDef("sg_due_date", "date", "Due Date"),
            FieldDef("sg_delivered_at", "date_time", "Delivered At"),
            FieldDef("sg_duration", "duration", "Duration"),
            FieldDef("sg_progress", "percent", "Progress"),
            FieldDef("sg_timecode", "timecode", "Timecode"),
            FieldDef("sg_budget", "currency", "Budget"),
            FieldDef(
                "sg_category", "list", "Category", valid_values=("Trailer", "Feature", "Teaser", "Still")
            ),
            FieldDef("sg_settings", "serializable", "Settings"),
            FieldDef("sg_link", "url", "Link"),
            FieldDef("image", "image", "Thumbnail"),
            FieldDef("sg_keywords", "tag_list", "Keywords"),
            FieldDef("sg_color", "color", "Color"),
            FieldDef("sg_uuid", "uuid", "UUID"),
            _link("sg_shot", ("Shot",), "Shot"),
            _links("sg_assets", ("Asset",), "Assets"),
            FieldDef("sg_footage", "footage", "Footage"),
            FieldDef("sg_unused_float", "float", "Unused Float"),
            FieldDef("step_0", "pivot_column", "ALL TASKS", editable=False),
        ],
    )
    linkable = tuple(d.name for d in t)
    t.append(
        EntityTypeDef(
            "EventLogEntry",
            "Event Log Entry",
            _BASES["EventLogEntry"],
            [
                FieldDef("id", "number", "Id", editable=False),
                FieldDef("created_at", "date_time", "Date Created", editable=False),
                _text("event_type", "Event Type"),
                _text("attribute_name", "Attribute Name"),
                _text("description", "Description"),
                _link("entity", linkable, "Link"),
                _link("project", ("Project",), "Project"),
                _link("user", USER_TYPES, "Who"),
                FieldDef("meta", "serializable", "Meta", editable=False),
                FieldDef("session_uuid", "uuid", "Session UUID", editable=False),
            ],
        )
    )
    return t


def display_field(type_name: str) -> str | None:
    """The field a link's `name` is read from; None where the name is composed."""
    return {
        "HumanUser": "name",
        "Project": "name",
        "Task": "content",
        "Note": "subject",
        "TimeLog": "description",
        "EventLogEntry": "description",
        "ApiUser": None,
    }.get(type_name, "code")
