import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kbsite.settings")
application = get_wsgi_application()

# Load the embedding model now rather than on the first caller's turn.
from knowledge.embeddings import warm_up_in_background  # noqa: E402

warm_up_in_background()
