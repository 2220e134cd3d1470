"""A TCP proxy that can stop forwarding: a database partitioned from its clients (connections
accepted, nothing answered), the fault a refusing database cannot show; and that can refuse
connections (a database server that is down) and take them again on the same port."""

import socket
import threading


class HangingProxy:
    """Forwards 127.0.0.1:<port> to ``upstream`` until ``hang()``; then holds every byte (of open and
    new connections) until ``resume()``. ``refuse()`` drops every connection and closes the port
    (a new connection is refused) until ``listen()``. ``close()`` drops every connection."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.port = 0
        self.listen()

    def listen(self) -> None:
        """Take connections on the port (the same one after ``refuse()``)."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True, name="hanging-proxy").start()

    def refuse(self) -> None:
        """Close the port and every connection: a database server that is down."""
        self._stop_listening()
        self._drop_connections()

    def hang(self) -> None:
        self.forwarding.clear()

    def resume(self) -> None:
        self.forwarding.set()

    def close(self) -> None:
        self.closed.set()
        self.forwarding.set()
        self._stop_listening()
        self._drop_connections()

    def _stop_listening(self) -> None:
        # shutdown first: on Linux it wakes the thread blocked in accept(), whose reference would
        # otherwise keep the port listening after close().
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def _drop_connections(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self.closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while not self.forwarding.wait(0.05):
                    if self.closed.is_set():
                        return
                if self.closed.is_set():
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
