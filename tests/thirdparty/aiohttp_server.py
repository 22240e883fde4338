"""A small push server on aiohttp, written as its users write them, below /app:

POST /app/login                 -> 200 {"token": RANDOM}
POST /app/messages?channel=C    -> 201 {"id": N} (needs Authorization: Bearer TOKEN, else 401)
GET  /app/events?channel=C      -> text/event-stream: retry, then each message as id/data
GET  /app/ws                    -> WebSocket echo of text frames

Usage: python3 aiohttp_server.py PORT [CERT KEY]
With CERT and KEY (PEM files) it serves https and wss, offering ALPN http/1.1.
"""
import asyncio
import secrets
import ssl
import sys

from aiohttp import web

TOKENS = set()
CHANNELS = {}


def channel(name):
    return CHANNELS.setdefault(name, {"next": 1, "queues": []})


async def login(request):
    token = secrets.token_hex(16)
    TOKENS.add(token)
    return web.json_response({"token": token})


async def publish(request):
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in TOKENS:
        return web.json_response({"error": "unauthorized"}, status=401)
    state = channel(request.query.get("channel", "default"))
    data = await request.text()
    message_id = state["next"]
    state["next"] += 1
    for queue in state["queues"]:
        queue.put_nowait((message_id, data))
    return web.json_response({"id": message_id}, status=201)


async def events(request):
    state = channel(request.query.get("channel", "default"))
    queue = asyncio.Queue()
    state["queues"].append(queue)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    try:
        while True:
            message_id, data = await queue.get()
            await response.write(f"id: {message_id}\ndata: {data}\n\n".encode())
    finally:
        state["queues"].remove(queue)


async def echo(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


def main():
    app = web.Application()
    app.add_routes(
        [
            web.post("/app/login", login),
            web.post("/app/messages", publish),
            web.get("/app/events", events),
            web.get("/app/ws", echo),
        ]
    )
    context = None
    if len(sys.argv) == 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        context.set_alpn_protocols(["http/1.1"])
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=context, print=None
    )


if __name__ == "__main__":
    main()
