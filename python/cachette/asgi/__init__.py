"""Framework glue: how each ASGI framework's dependency injection builds a ``Cachette``.

- FastAPI: ``cachette: CachetteDep`` (``cachette.asgi.fastapi``), an ``async def`` provider
  with no threadpool hop; ``cachette: Cachette = Depends()`` works too, at the cost of a
  thread hop per request. The request is injected, Cache-Control honoured.
- Starlette: ``Cachette(request)`` inside the endpoint.
- Litestar: ``dependencies={"cachette": Provide(Cachette)}`` works as it is (Litestar injects
  its own request into the parameter named ``request``); ``cachette.asgi.litestar.provide``
  is the same provider with ``sync_to_thread=False`` set, which silences Litestar's warning.
- BlackSheep: call ``cachette.asgi.blacksheep.setup(app)`` once, then
  ``app.services.add_scoped(Cachette)``.

Every framework module imports its framework lazily: importing ``cachette.asgi`` costs nothing.
See docs/frameworks.md.
"""
