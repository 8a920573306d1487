"""The web gateway: one manager connection, calls pushed live to browsers and CRMs, REST API, web panel.

``create_app(GatewaySettings(pbx_url=...))`` (``ajam.gateway.app``) gives the ASGI application; ``ajam
serve`` runs it with uvicorn.
"""
