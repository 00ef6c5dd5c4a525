"""The board's cookies, set in one way: HttpOnly (no script reads them), SameSite=Lax (a
link from a chat app still arrives signed in; a cross-site POST does not carry them), and
Secure whenever the board is reached over HTTPS (SUNLIGHT_BOARD_SECURE_COOKIES decides
when set)."""

from __future__ import annotations

from fastapi import Request, Response

from services.board.context import Board

__all__ = ["delete_cookie", "secure", "set_cookie"]


def secure(board: Board, request: Request) -> bool:
    if board.options.secure_cookies is not None:
        return board.options.secure_cookies
    return board.secure_cookies or request.url.scheme == "https"


def set_cookie(response: Response, request: Request, board: Board, name: str, value: str, *,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=secure(board, request), path="/")


def delete_cookie(response: Response, request: Request, board: Board, name: str) -> None:
    # with the attributes it was set with: browsers keep a Secure cookie otherwise
    response.delete_cookie(name, httponly=True, samesite="lax", secure=secure(board, request),
                           path="/")
