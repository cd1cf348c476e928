"""The provider registry: what the pages, the API and the commands need to know of each
provider, in one place — its name and label, whether it is offered, how to start its
authorization (``oauth``), its token endpoint (``tokens``), where to revoke a grant, how to
read the account's label, and how to list the roots a user can select.

A provider is *offered* when its client id is set, or when ``KB_SANDBOX_PROVIDERS`` is on and
it has a sandbox (then it is labelled *Sandbox*). Google and ClickUp join by adding a spec
with their account reader and roots lister (``microsoft_account`` / ``microsoft_roots`` show
the shape); nothing else changes.

Roots (``Root``) follow DESIGN §9 ``GET /connections/{id}/roots``. Conventions the sync
engine reads back from ``ConnectionSource`` (``extra`` holds what the root's listing knew):

* ``onedrive`` / ``sharepoint_library``: a drive (``root_id`` = drive id, no ``parent_id``)
  or one of its top-level folders (``root_id`` = the folder's item id, ``parent_id`` = the
  drive id). ``extra`` = ``{"drive_id": …}`` plus ``{"item_id": …}`` for a folder.
* ``mail_folder``: ``root_id`` = the folder id; ``parent_id`` = the parent folder when it is
  listed too.
* ``teams_channel``: ``root_id`` = the channel id; ``extra`` = ``{"team_id": …}``.
* ``gdrive_folder``: ``root_id`` = a Drive folder id ("My Drive" is its root folder, with two
  levels of folders under it); a folder of a shared drive has ``extra`` = ``{"drive_id": …}``.
  ``shared_drive``: ``root_id`` = the shared drive's id.
* ``gmail_label``: ``root_id`` = the label id (``INBOX``, ``Label_12``…); a nested label
  (``Parent/Child``) has the parent label as ``parent_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from connections import models, oauth, tokens
from connections.providers import clickup, errors, google, microsoft

# Top-level folders listed per drive, and child mail folders per folder (the listing is a
# request-time call: it stays small).
MAX_FOLDERS_PER_DRIVE = 200
MAX_SITES = 50


@dataclass(frozen=True)
class Root:
    surface: str
    root_id: str
    label: str
    parent_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class RootListing:
    items: list[Root]
    # What could not be listed, said plainly (e.g. Teams needs an administrator's consent).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccountInfo:
    external_id: str
    label: str


TokenSource = Callable[[str | None], str]


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    label: str
    surfaces: tuple[str, ...]
    # Reads the account behind a fresh access token (the callback).
    account: Callable[[str], AccountInfo]
    # Lists what the connection's account can select; takes a token source (refreshes on 401).
    roots: Callable[[TokenSource], RootListing]
    revoke_url: Callable[[], str] = lambda: ""
    has_sandbox: bool = False

    def client_id(self) -> str:
        return oauth.provider_client_id(self.name)

    def offered(self) -> bool:
        return bool(self.client_id()) or (settings.KB_SANDBOX_PROVIDERS and self.has_sandbox)

    def display_label(self) -> str:
        return f"{self.label} (Sandbox)" if settings.KB_SANDBOX_PROVIDERS and self.has_sandbox else self.label

    def authorize_url(self, *, session_key: str, tenant_id: int) -> str:
        """The provider's authorize URL with a fresh single-use state (and PKCE where supported)."""
        return oauth.authorization_start(session_key=session_key, tenant_id=tenant_id, provider=self.name)

    def token_endpoint(self) -> Any:
        return tokens.token_endpoint(self.name)


# --- Microsoft ----------------------------------------------------------------------------------


def _graph(token: TokenSource) -> microsoft.GraphClient:
    return microsoft.GraphClient(graph_url=settings.KB_MS_GRAPH_URL, token=token, timeout=settings.KB_PROVIDER_TIMEOUT)


def microsoft_account(access_token: str) -> AccountInfo:
    with _graph(lambda _refused: access_token) as graph:
        account = graph.me()
    return AccountInfo(external_id=account.id, label=account.label)


def _drive_roots(graph: microsoft.GraphClient, *, surface: str, drive: microsoft.Drive, label: str) -> list[Root]:
    roots = [Root(surface=surface, root_id=drive.id, label=label, extra={"drive_id": drive.id})]
    for count, item in enumerate(graph.children(drive_id=drive.id)):
        if count >= MAX_FOLDERS_PER_DRIVE:
            break
        if item.is_folder:
            roots.append(Root(
                surface=surface, root_id=item.id, label=f"{label} / {item.name}", parent_id=drive.id,
                extra={"drive_id": drive.id, "item_id": item.id},
            ))
    return roots


def microsoft_roots(token: TokenSource) -> RootListing:
    """OneDrive and its top-level folders, SharePoint libraries (``Site / Library``) and their
    top-level folders, mail folders with their child folders, Teams channels (``Team / Channel``).
    A surface the account may not read (403) is left out with a warning; other errors raise."""
    listing = RootListing(items=[])
    with _graph(token) as graph:
        try:
            drive = graph.my_drive()
            listing.items += _drive_roots(graph, surface=models.Surface.ONEDRIVE, drive=drive, label="OneDrive")
        except (errors.AccessDenied, errors.ItemGone):
            listing.warnings.append("OneDrive: this account has no OneDrive, or it may not be read.")
        try:
            for index, site in enumerate(graph.sites()):
                if index >= MAX_SITES:
                    break
                for library in graph.site_drives(site.id):
                    listing.items += _drive_roots(
                        graph, surface=models.Surface.SHAREPOINT_LIBRARY, drive=library,
                        label=f"{site.name} / {library.name}",
                    )
        except errors.AccessDenied:
            listing.warnings.append("SharePoint: this account may not list sites (Sites.Read.All not granted).")
        try:
            for folder in graph.mail_folders():
                listing.items.append(Root(surface=models.Surface.MAIL_FOLDER, root_id=folder.id, label=folder.name))
                if folder.child_folder_count:
                    for child in graph.mail_folders(parent_id=folder.id):
                        listing.items.append(Root(
                            surface=models.Surface.MAIL_FOLDER, root_id=child.id,
                            label=f"{folder.name} / {child.name}", parent_id=folder.id,
                        ))
        except (errors.AccessDenied, errors.ItemGone):
            listing.warnings.append("Outlook: this account has no mailbox, or it may not be read.")
        try:
            for team in graph.joined_teams():
                for channel in graph.channels(team_id=team.id):
                    listing.items.append(Root(
                        surface=models.Surface.TEAMS_CHANNEL, root_id=channel.id,
                        label=f"{team.name} / {channel.name}", extra={"team_id": team.id},
                    ))
        except errors.AccessDenied:
            listing.warnings.append(
                "Teams: reading channels needs your organisation's administrator to consent to this app."
            )
    return listing


MICROSOFT = ProviderSpec(
    name=models.Provider.MICROSOFT,
    label=models.Provider.MICROSOFT.label,
    surfaces=(
        models.Surface.ONEDRIVE, models.Surface.SHAREPOINT_LIBRARY, models.Surface.MAIL_FOLDER,
        models.Surface.TEAMS_CHANNEL,
    ),
    account=microsoft_account,
    roots=microsoft_roots,
    # Entra has no endpoint to revoke one app's refresh token: destroying ours is what we can do.
    revoke_url=lambda: "",
    has_sandbox=True,
)

# --- Google ----------------------------------------------------------------------------------------

# System labels worth selecting (the others are states, not places: UNREAD, STARRED, SPAM…).
GMAIL_SYSTEM_LABELS = {"INBOX": "Inbox", "SENT": "Sent"}


def _google(token: TokenSource) -> google.GoogleClient:
    return google.GoogleClient(drive_url=settings.KB_GOOGLE_DRIVE_URL, gmail_url=settings.KB_GOOGLE_GMAIL_URL,
                               token=token, timeout=settings.KB_PROVIDER_TIMEOUT)


def google_account(access_token: str) -> AccountInfo:
    """Drive's ``about`` (``user.emailAddress``, ``permissionId``), else the Gmail profile
    when Drive may not be read."""
    with _google(lambda _refused: access_token) as client:
        try:
            account = client.about()
        except errors.AccessDenied:
            profile = client.profile()
            return AccountInfo(external_id=profile.email, label=profile.email)
    return AccountInfo(external_id=account.id, label=account.label)


def _subfolders(client: google.GoogleClient, folder_id: str, *, drive_id: str | None = None) -> list[google.DriveFile]:
    return client.children(folder_id, drive_id=drive_id, folders_only=True).files[:MAX_FOLDERS_PER_DRIVE]


def google_roots(token: TokenSource) -> RootListing:
    """"My Drive" and its folders two levels deep, shared drives and their top-level folders
    (``Drive / Folder``), Gmail labels. A surface the account may not read is left out with
    a warning; other errors raise."""
    listing = RootListing(items=[])
    folder = models.Surface.GDRIVE_FOLDER
    with _google(token) as client:
        try:
            root = client.file("root")
            listing.items.append(Root(surface=folder, root_id=root.id, label="My Drive"))
            for top in _subfolders(client, root.id):
                listing.items.append(Root(surface=folder, root_id=top.id, label=f"My Drive / {top.name}",
                                          parent_id=root.id))
                for sub in _subfolders(client, top.id):
                    listing.items.append(Root(surface=folder, root_id=sub.id,
                                              label=f"My Drive / {top.name} / {sub.name}", parent_id=top.id))
            for drive in client.shared_drives():
                listing.items.append(Root(surface=models.Surface.SHARED_DRIVE, root_id=drive.id, label=drive.name))
                for top in _subfolders(client, drive.id, drive_id=drive.id):
                    listing.items.append(Root(surface=folder, root_id=top.id, label=f"{drive.name} / {top.name}",
                                              parent_id=drive.id, extra={"drive_id": drive.id}))
        except errors.AccessDenied:
            listing.warnings.append("Google Drive: this account may not read Drive (the Drive permission was not granted).")
        try:
            labels = client.labels()
            by_name = {label.name: label.id for label in labels}
            for label in labels:
                if label.type == "system" and label.id not in GMAIL_SYSTEM_LABELS:
                    continue
                parent = by_name.get(label.name.rsplit("/", 1)[0], "") if "/" in label.name else ""
                listing.items.append(Root(surface=models.Surface.GMAIL_LABEL, root_id=label.id,
                                          label=GMAIL_SYSTEM_LABELS.get(label.id, label.name), parent_id=parent))
        except errors.AccessDenied:
            listing.warnings.append("Gmail: this account has no mailbox, or it may not be read.")
    return listing


GOOGLE = ProviderSpec(
    name=models.Provider.GOOGLE,
    label=models.Provider.GOOGLE.label,
    surfaces=(models.Surface.GDRIVE_FOLDER, models.Surface.SHARED_DRIVE, models.Surface.GMAIL_LABEL),
    account=google_account,
    roots=google_roots,
    revoke_url=lambda: settings.KB_GOOGLE_REVOKE_URL,
    has_sandbox=True,
)

# --- ClickUp ------------------------------------------------------------------------------------


def _clickup(token: TokenSource) -> clickup.ClickUpClient:
    return clickup.ClickUpClient(api_url=settings.KB_CLICKUP_API_URL, token=token, timeout=settings.KB_PROVIDER_TIMEOUT)


def clickup_account(access_token: str) -> AccountInfo:
    with _clickup(lambda _refused: access_token) as api:
        user = api.user()
    return AccountInfo(external_id=user.id, label=user.label)


def clickup_roots(token: TokenSource) -> RootListing:
    """Each workspace's spaces (``Workspace / Space``) and their lists, in folders or not
    (``Space / Folder / List``, ``Space / List``; ``parent_id`` = the space)."""
    listing = RootListing(items=[])
    with _clickup(token) as api:
        for team in api.teams():
            for space in api.spaces(team_id=team.id):
                listing.items.append(Root(
                    surface=models.Surface.CLICKUP_SPACE, root_id=space.id, label=f"{team.name} / {space.name}",
                    extra={"team_id": team.id},
                ))
                lists = [(f"{space.name} / {folder.name} / {item.name}", item)
                         for folder in api.folders(space_id=space.id) for item in api.folder_lists(folder_id=folder.id)]
                lists += [(f"{space.name} / {item.name}", item) for item in api.folderless_lists(space_id=space.id)]
                for label_, item in lists:
                    listing.items.append(Root(
                        surface=models.Surface.CLICKUP_LIST, root_id=item.id, label=label_, parent_id=space.id,
                        extra={"team_id": team.id, "space_id": space.id},
                    ))
    return listing


CLICKUP = ProviderSpec(
    name=models.Provider.CLICKUP,
    label=models.Provider.CLICKUP.label,
    surfaces=(models.Surface.CLICKUP_SPACE, models.Surface.CLICKUP_LIST),
    account=clickup_account,
    roots=clickup_roots,
    # ClickUp offers no revocation endpoint: the user removes the app in ClickUp's settings.
    revoke_url=lambda: "",
    has_sandbox=True,
)

_SPECS: dict[str, ProviderSpec] = {MICROSOFT.name: MICROSOFT, GOOGLE.name: GOOGLE, CLICKUP.name: CLICKUP}


def get(name: str) -> ProviderSpec | None:
    """The provider's spec, or None when it is unknown or not built yet."""
    return _SPECS.get(name)


def offered() -> list[ProviderSpec]:
    """Providers a user may connect now (client id set, or the sandbox)."""
    return [spec for spec in _SPECS.values() if spec.offered()]


def label(name: str) -> str:
    spec = _SPECS.get(name)
    if spec is not None:
        return spec.display_label()
    return models.Provider(name).label if name in models.Provider.values else name
