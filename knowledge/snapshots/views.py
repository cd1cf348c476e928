"""The two profile pages: the business profile (tenant admins) and a member's own profile
(their directory entry). The tenant comes from the session (``tenant_view``); a member can
only ever reach their own membership's entry."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from kbsite.errors import ServiceError
from kbsite.pages import KbContext, is_htmx, render_page, tenant_view
from knowledge import auth, models, selectors
from knowledge.snapshots import forms, services


@tenant_view(roles=auth.ADMIN_ROLES, methods=("GET", "HEAD", "POST"))
def business_profile(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """The business profile form; htmx posts get the form back (errors or "saved")."""
    saved = False
    if request.method == "POST":
        form = forms.ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.profile_put(tenant=kb.tenant, data=form.as_profile(), user=request.user)
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                saved = True
                if not is_htmx(request):
                    messages.success(request, "Business profile saved; the assistant learns it shortly.")
                    return redirect("kb:profile")
    else:
        form = forms.ProfileForm(initial=forms.ProfileForm.initial_from(services.profile_json(tenant=kb.tenant)))
    context = {"title": "Business profile", "form": form, "saved": saved,
               "snapshots": services.snapshot_list(tenant=kb.tenant)}
    template = "kb/_profile_form.html" if is_htmx(request) else "kb/profile.html"
    return render_page(request, kb, template, context, section="profile")


@tenant_view(roles=auth.READ_ROLES, methods=("GET", "HEAD", "POST"))
def my_profile(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """A member's own directory entry in the current tenant."""
    membership = selectors.membership_get(tenant=kb.tenant, user=request.user)
    if membership is None:  # a superuser looking at a tenant they do not belong to
        return render_page(request, kb, "kb/forbidden.html", {
            "title": "Not allowed", "reason": "You are not a member of this tenant, so you have no profile here."},
            status=403)
    entry = services.directory_entry_get(membership=membership)
    form = forms.DirectoryEntryForm(request.POST or None, initial={
        "listed": entry.listed, "display_name": entry.display_name, "title": entry.title})
    if request.method == "POST" and form.is_valid():
        try:
            services.directory_entry_put(membership=membership, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("kb:me")
    return render_page(request, kb, "kb/me.html", {"title": "My profile", "form": form,
                                                  "role": models.Role(membership.role).label}, section="me")
