"""The board: FastAPI app for residents, staff, managers and auditors (web API, Open311).

`services.board.app.create_app(settings, estate, pool)` builds it; `sunlight board` serves
it. Nothing is imported here, so the `sunlight` command starts without loading FastAPI.
"""
