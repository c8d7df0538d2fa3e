"""Security headers on every response, and ProxyFix for a deployment behind reverse proxies."""
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts, styles, fonts, images and requests come from this site only; no inline script or event
# handler attribute runs (they live in webapp/static/js), and no other site may frame a page.
# Inline style attributes stay allowed (Bootstrap's data: images and the templates' few style="" use them).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"


def register(app) -> None:
    production = app.config["APP_ENV"] == "production"
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # X-Forwarded-For/-Proto/-Host/-Port set by that many proxies are believed: request.remote_addr is
        # the client's (the per-address sign-in limits), url_for(_external=True) says https:// behind TLS.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
