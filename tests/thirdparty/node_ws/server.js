// Node's `ws` (npm, pinned in package-lock.json) with permessage-deflate, and a plain `http` SSE
// stream whose events end in a lone CR, as a user of either would write them.
//
//   GET /ws                  WebSocket echo; permessage-deflate when the client offers it
//                            (every message compressed: threshold 0)
//   GET /events              text/event-stream: `data: one\r\r`, then `\ndata: two\r\r` in a
//                            second write (the LF completes the CRLF the first write's last CR
//                            began), then the response ends
//   GET /events?hold=1       `data: held\r\r`, then nothing until the client goes
//
// Usage: node server.js PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 3003);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/events') {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  if (url.searchParams.get('hold')) {
    res.write('data: held\r\r');
    return; // held open until the client closes
  }
  res.write('data: one\r\r');
  res.write('\ndata: two\r\r');
  res.end();
});

const wss = new WebSocketServer({
  server,
  path: '/ws',
  perMessageDeflate: { threshold: 0 },
});
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});

server.listen(port, '127.0.0.1');
