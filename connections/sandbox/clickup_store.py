"""The in-memory ClickUp account behind ``FakeClickUp`` (clickup.py): a user, a workspace
(ClickUp's API calls it a team) with spaces, folders and lists, tasks (subtasks too) with
comments and threaded replies, and the demo business (``seed_demo``).

Every mutation stamps ``date_updated`` from a clock that only moves forward (milliseconds,
at least the wall clock), so ``date_updated_gt`` listings see exactly what changed. A new
comment or reply bumps its task's ``date_updated`` (``comments_bump_task``; off, a
comment is seen only by a full listing, a webhook or the comment id in the revision).
A deleted task is gone (404); an archived one is left out of listings but still readable.
Attachments (``attachment_add``) keep their bytes here; the server serves them at their url.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Task:
    id: str
    list_id: str
    name: str
    description: str
    status: str = "to do"
    assignees: list[str] = field(default_factory=list)  # user ids
    parent: str | None = None
    date_created: int = 0
    date_updated: int = 0
    archived: bool = False
    deleted: bool = False
    closed: bool = False
    # {"id", "title", "extension", "date", "data": bytes}; served at FakeClickUp's attachment url
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Comment:
    id: str
    task_id: str
    reply_to: str | None  # a threaded reply's comment
    text: str
    user_id: str
    date: int
    deleted: bool = False


@dataclass
class ClickUpStore:
    comments_bump_task: bool = True
    user: dict[str, Any] = field(default_factory=lambda: {
        "id": 81000001, "username": "Dana Reyes", "email": "dana@brightsmile.example", "initials": "DR",
    })
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    comments: dict[str, Comment] = field(default_factory=dict)
    clock: int = 0
    seq: int = 0

    def __post_init__(self) -> None:
        uid = str(self.user["id"])
        self.members[uid] = dict(self.user)

    # --- clock and ids ---------------------------------------------------------------------

    def tick(self) -> int:
        self.clock = max(self.clock + 1, int(time.time() * 1000))
        return self.clock

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _id(self, prefix: str = "") -> str:
        n = self._next()
        return f"{prefix}{n}" if prefix else str(900000000 + n)

    # --- structure -------------------------------------------------------------------------

    def member_add(self, username: str, email: str = "") -> str:
        uid = str(81000000 + self._next())
        self.members[uid] = {"id": int(uid), "username": username, "email": email, "initials": username[:2].upper()}
        return uid

    def team_add(self, name: str) -> str:
        tid = self._id()
        self.teams[tid] = {"id": tid, "name": name}
        return tid

    def space_add(self, team_id: str, name: str) -> str:
        sid = self._id()
        self.spaces[sid] = {"id": sid, "name": name, "team_id": team_id}
        return sid

    def folder_add(self, space_id: str, name: str) -> str:
        fid = self._id()
        self.folders[fid] = {"id": fid, "name": name, "space_id": space_id}
        return fid

    def list_add(self, space_id: str, name: str, *, folder_id: str | None = None) -> str:
        lid = self._id()
        self.lists[lid] = {"id": lid, "name": name, "space_id": space_id, "folder_id": folder_id}
        return lid

    def team_of_list(self, list_id: str) -> str:
        return str(self.spaces[self.lists[list_id]["space_id"]]["team_id"])

    # --- tasks -----------------------------------------------------------------------------

    def task_add(self, list_id: str, name: str, description: str = "", *, status: str = "to do",
                 assignees: list[str] | None = None, parent: str | None = None) -> str:
        tid = f"86{self._next():06x}"
        now = self.tick()
        self.tasks[tid] = Task(id=tid, list_id=list_id, name=name, description=description, status=status,
                               assignees=list(assignees or []), parent=parent, date_created=now, date_updated=now)
        return tid

    def task_edit(self, task_id: str, *, name: str | None = None, description: str | None = None,
                  status: str | None = None) -> None:
        task = self.tasks[task_id]
        if name is not None:
            task.name = name
        if description is not None:
            task.description = description
        if status is not None:
            task.status = status
        task.date_updated = self.tick()

    def task_move(self, task_id: str, list_id: str) -> None:
        self.tasks[task_id].list_id = list_id
        self.tasks[task_id].date_updated = self.tick()

    def task_delete(self, task_id: str) -> None:
        """Gone at ClickUp: 404 and out of every listing (ClickUp tells no one but webhooks)."""
        self.tasks[task_id].deleted = True
        for sub in self.tasks.values():
            if sub.parent == task_id:
                sub.deleted = True

    def task_archive(self, task_id: str) -> None:
        task = self.tasks[task_id]
        task.archived = True
        task.date_updated = self.tick()

    def attachment_add(self, task_id: str, title: str, data: bytes) -> str:
        """Attach a file to a task (its ``date_updated`` moves, as ClickUp's does)."""
        aid = f"{self._next():04x}-{int(time.time()):x}.{title.rsplit('.', 1)[-1] if '.' in title else 'bin'}"
        task = self.tasks[task_id]
        task.date_updated = self.tick()
        task.attachments.append({"id": aid, "title": title, "extension": title.rsplit(".", 1)[1].lower() if "." in title
                                 else "", "date": str(task.date_updated), "data": data})
        return aid

    def attachment_delete(self, task_id: str, attachment_id: str) -> None:
        task = self.tasks[task_id]
        task.attachments = [a for a in task.attachments if a["id"] != attachment_id]
        task.date_updated = self.tick()

    def attachment(self, attachment_id: str) -> dict[str, Any] | None:
        """A live task's attachment (a deleted task's files are gone with it)."""
        for task in self.tasks.values():
            if not task.deleted:
                for attachment in task.attachments:
                    if attachment["id"] == attachment_id:
                        return attachment
        return None

    def live_task(self, task_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        return None if task is None or task.deleted else task

    # --- comments --------------------------------------------------------------------------

    def comment_add(self, task_id: str, text: str, *, user_id: str | None = None, reply_to: str | None = None) -> str:
        cid = str(90000000 + self._next())
        now = self.tick()
        self.comments[cid] = Comment(id=cid, task_id=task_id, reply_to=reply_to, text=text,
                                     user_id=user_id or str(self.user["id"]), date=now)
        if self.comments_bump_task:
            self.tasks[task_id].date_updated = now
        return cid

    def comment_edit(self, comment_id: str, text: str) -> None:
        comment = self.comments[comment_id]
        comment.text = text
        if self.comments_bump_task:
            self.tasks[comment.task_id].date_updated = self.tick()

    def comment_delete(self, comment_id: str) -> None:
        comment = self.comments[comment_id]
        comment.deleted = True
        if self.comments_bump_task:
            self.tasks[comment.task_id].date_updated = self.tick()

    def top_comments(self, task_id: str) -> list[Comment]:
        """The task's comments (not replies), newest first."""
        found = [c for c in self.comments.values() if c.task_id == task_id and c.reply_to is None and not c.deleted]
        return sorted(found, key=lambda c: (c.date, int(c.id)), reverse=True)

    def replies(self, comment_id: str) -> list[Comment]:
        found = [c for c in self.comments.values() if c.reply_to == comment_id and not c.deleted]
        return sorted(found, key=lambda c: (c.date, int(c.id)))


# --- the demo business -------------------------------------------------------------------------

FRONT_DESK_QUESTIONS = [
    "Can I bring my child to my own appointment?",
    "Do you take card payments at reception?",
    "Is there a lift?",
    "Do you send appointment reminders by text?",
    "Can I pay in instalments for a crown?",
]


def seed_demo(store: ClickUpStore) -> dict[str, str]:
    """Bright Smile Dental's ClickUp: a "Clinic" space with a "Front desk" folder ("Patient
    requests", "Supplies") and a folderless "Team notes" list. One task carries 30 comments
    (more than ClickUp's page of 25), one has a subtask and an attached price list, one comment
    has threaded replies.
    Returns the ids a walk-through names."""
    marco = store.member_add("Marco Silva", "marco@brightsmile.example")
    lena = store.member_add("Lena Novak", "lena@brightsmile.example")
    dana = str(store.user["id"])
    team = store.team_add("Bright Smile Dental")
    space = store.space_add(team, "Clinic")
    front = store.folder_add(space, "Front desk")
    requests = store.list_add(space, "Patient requests", folder_id=front)
    supplies = store.list_add(space, "Supplies", folder_id=front)
    notes = store.list_add(space, "Team notes")

    insurance = store.task_add(
        requests, "Which insurers do we bill directly?",
        "We bill **Allianz Dental** and **Hanse Care** directly. Patients of other insurers pay at reception "
        "and get an invoice to claim back.", status="complete", assignees=[lena],
    )
    store.comment_add(insurance, "Hanse Care asks for the treatment plan before anything over 500 EUR.", user_id=lena)
    plan = store.comment_add(insurance, "Do we also bill Nordic Mutual directly?", user_id=marco)
    store.comment_add(insurance, "Not yet: from January we will.", user_id=dana, reply_to=plan)
    store.comment_add(insurance, "Until then Nordic Mutual patients pay and claim back.", user_id=lena, reply_to=plan)

    faq = store.task_add(
        notes, "Front desk FAQ thread",
        "Answers we agreed on at the front desk, one comment per question.", status="in progress",
        assignees=[marco, lena],
    )
    for index in range(30):
        question = FRONT_DESK_QUESTIONS[index % len(FRONT_DESK_QUESTIONS)]
        answer = {
            0: "Yes, children may wait in the play corner; a staff member keeps an eye on them.",
            1: "Yes, all debit and credit cards; no American Express.",
            2: "Yes, the lift is next to the entrance on Mill Lane.",
            3: "Yes, a text message the day before at 10:00.",
            4: "Yes, crowns over 600 EUR can be paid in three monthly instalments.",
        }[index % len(FRONT_DESK_QUESTIONS)]
        store.comment_add(faq, f"Q{index + 1}: {question} {answer}", user_id=[dana, marco, lena][index % 3])
    store.comment_add(faq, "Newest note: the emergency slot on Saturdays is at 11:30.", user_id=dana)

    order = store.task_add(
        supplies, "Monthly supplies order",
        "Order gloves, masks and fluoride varnish from DentaSupply on the first Monday of the month.",
        assignees=[marco],
    )
    store.attachment_add(order, "dentasupply-price-list.md", (
        b"# DentaSupply price list 2026\n\n"
        b"| Item | Price |\n|---|---|\n"
        b"| Nitrile gloves, box of 100 | 7.90 EUR |\n"
        b"| Surgical masks, box of 50 | 5.40 EUR |\n"
        b"| Fluoride varnish, tube | 18.50 EUR |\n\n"
        b"Orders over 250 EUR ship free; delivery takes two working days.\n"
    ))
    store.task_add(
        supplies, "Check fluoride varnish stock", "Count the varnish tubes in the store room before the order; "
        "we keep at least 12.", parent=order, assignees=[lena],
    )
    return {"team": team, "space": space, "requests": requests, "supplies": supplies, "notes": notes,
            "insurance": insurance, "faq": faq, "order": order}
