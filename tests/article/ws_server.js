// The article's WebSocket server (section 4), on the library it used (nodejs-websocket): every
// text message T is answered with `服务端已收到信息,您的信息是T` ("the server received your
// message, it was T"), on any path.
//
//   node tests/article/ws_server.js           PORT (default 3001)
//
// Prints `listening on http://127.0.0.1:PORT` once it listens (PORT=0 picks a free port).
const ws = require("nodejs-websocket");

const server = ws.createServer((connection) => {
  connection.on("text", (text) => connection.sendText(`服务端已收到信息,您的信息是${text}`));
  // A peer that vanishes mid-frame is this demo's normal case, not a crash.
  connection.on("error", () => {});
});

server.listen(Number(process.env.PORT ?? 3001), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.socket.address().port}`);
});
