"""A stand-in for Tidewatch's log ingest on loopback that prints what each client sends:
method, path, headers, body size and the decoded body (OTLP protobuf or JSON, Loki
protobuf+snappy or JSON), and the raw bytes of every syslog TCP connection and UDP
datagram. For learning the clients' exact behaviour without the server:

    python recorder.py HTTP_PORT TCP_PORT UDP_PORT      # runs until killed

Answers as Tidewatch would: /v1/logs 200 with an empty ExportLogsServiceResponse in the
request's encoding, /loki/api/v1/push 204, anything else 404."""

import gzip
import json
import socket
import socketserver
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()


def out(text: str):
    with _lock:
        print(text, flush=True)


def _decompress(encoding: str, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _describe(path: str, content_type: str, body: bytes) -> str:
    from google.protobuf.json_format import MessageToJson

    if content_type.startswith("application/json"):
        return json.dumps(json.loads(body), indent=1)
    if path == "/v1/logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        return MessageToJson(request, indent=1)
    if path.startswith("/loki/"):
        import lokipb

        return MessageToJson(lokipb.decode(body), indent=1)
    return repr(body[:400])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        lines = [f"=== HTTP {self.command} {self.path} {self.request_version}"]
        lines += [f"  {name}: {value}" for name, value in self.headers.items()]
        encoding = (self.headers.get("content-encoding") or "").lower()
        content_type = (self.headers.get("content-type") or "").lower()
        lines.append(f"  body: {len(body)} bytes on the wire, first bytes {body[:12]!r}")
        try:
            plain = _decompress(encoding, body)
            if encoding:
                lines.append(f"  {encoding}-decoded: {len(plain)} bytes")
            lines.append("  decoded: " + _describe(self.path.split("?")[0], content_type, plain).replace("\n", "\n  "))
        except Exception as error:  # noqa: BLE001 — report, don't die
            lines.append(f"  could not decode: {type(error).__name__}: {error}")
        out("\n".join(lines))
        path = self.path.split("?")[0]
        if path == "/v1/logs":
            json_body = content_type.startswith("application/json")
            self._answer(200, "application/json" if json_body else "application/x-protobuf", b"{}" if json_body else b"")
        elif path == "/loki/api/v1/push":
            self._answer(204, None, b"")
        else:
            self._answer(404, "text/plain", b"not found\n")

    def _answer(self, status, content_type, body):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)


class SyslogTCP(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while chunk := self.request.recv(65536):
            data += chunk
        if data:
            out(f"=== syslog TCP connection from {self.client_address[0]}: {len(data)} bytes\n  {data!r}")


class SyslogUDP(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request[0]
        out(f"=== syslog UDP datagram from {self.client_address[0]}: {len(data)} bytes\n  {data!r}")


class ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    http_port, tcp_port, udp_port = (int(a) for a in sys.argv[1:4])
    servers = [
        ThreadingHTTPServer(("127.0.0.1", http_port), Handler),
        ThreadingTCP(("127.0.0.1", tcp_port), SyslogTCP),
        socketserver.ThreadingUDPServer(("127.0.0.1", udp_port), SyslogUDP),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    out(f"recorder: HTTP 127.0.0.1:{http_port}, syslog TCP {tcp_port}, UDP {udp_port} ({socket.gethostname()})")
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
