"""The interactive API docs (Swagger UI at /api/docs/, Redoc at /api/redoc/), served from the installation.

Their JavaScript and CSS come from drf-spectacular-sidecar (SPECTACULAR_SETTINGS in settings.py). Two
things would still reach out: drf-spectacular's Redoc page links Google Fonts (templates/api/redoc.html
drops it) and Redoc's menu footer shows a logo from cdn.redoc.ly, unconditionally. A Content Security
Policy that allows images, fonts and fetches from this origin only stops the latter before any request
is made (the logo simply does not show), and guards against any future asset of the same kind.
"""

from functools import wraps

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

LOCAL_ASSETS_ONLY = "img-src 'self' data:; font-src 'self' data:; connect-src 'self'"


def local_assets_only(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", LOCAL_ASSETS_ONLY)
        return response

    return wrapped


# Both templates add a page language, Redoc a main landmark, Swagger UI colours that meet WCAG AA.
swagger_ui = local_assets_only(SpectacularSwaggerView.as_view(url_name="schema", template_name="api/swagger_ui.html"))
redoc = local_assets_only(SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"))
