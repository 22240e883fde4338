// The article's Server-Sent Events server (section 5), defect included: it writes the testEvent
// block as `event:` then `id:` and a blank line, so the event ends before any `data:` line and a
// browser never dispatches it (WHATWG HTML, "dispatch the event": an empty data buffer means the
// event is dropped). Every tick repeats the pattern with `event: message` / `id: messageId`, so the
// `data:` line that follows is dispatched as a nameless `message` event instead.
//
//   node tests/article/sse_server.js          PORT (default 3002), INTERVAL_MS (default 1000)
//
// Prints `listening on http://127.0.0.1:PORT` once it listens (PORT=0 picks a free port).
const http = require("http");

const interval = Number(process.env.INTERVAL_MS || 1000);

// One res.write per line group, as the article writes them: each becomes one HTTP chunk.
const server = http.createServer((req, res) => {
  if (req.url !== "/sseStream") {
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  res.write("retry: 10000\n");
  res.write("event: testEvent\n");
  res.write("id: testId\n\n");
  res.write("data: " + new Date() + "\n\n");
  const timer = setInterval(() => {
    res.write("event: message\n");
    res.write("id: messageId\n\n");
    res.write("data: " + new Date() + "\n\n");
  }, interval);
  req.socket.on("close", () => clearInterval(timer));
});

server.listen(Number(process.env.PORT ?? 3002), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
