"""Serving the board with uvicorn, one or several worker processes.

uvicorn binds the listening socket itself for `--workers N` and leaves its protocol
number at 0; asyncio then never sets TCP_NODELAY on accepted connections, and every
keep-alive response after the first waits ~40 ms for the client's delayed ACK
(Kludex/uvicorn#3149, measured here: 44 ms per request with 2 workers, 1.4 ms with 1).
`TcpConfig` binds it with IPPROTO_TCP, which is all asyncio needs.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "services.board.main:app_from_env"


class TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        if self.uds or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock


def serve(host: str, port: int, workers: int) -> None:
    """Run the board until interrupted (each worker builds its app from the environment)."""
    config = TcpConfig(APP, factory=True, host=host, port=port, workers=workers,
                       log_config=None, proxy_headers=True)
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run(sockets=[config.bind_socket()])
