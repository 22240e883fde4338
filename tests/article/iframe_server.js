// The article's forever-iframe server (section 2): GET /iframeLongConnection answers one endless
// text/html document and appends a <script> every INTERVAL_MS that hands the time to the parent
// page with postMessage; GET / (or /index.html) is a page whose hidden iframe loads it and shows
// what arrives. The article served any file under its folder (`fs.readFile("." + req.url)`, a path
// traversal); this one serves only these two documents, and 404 for anything else.
//
//   node tests/article/iframe_server.js       PORT (default 3000), INTERVAL_MS (default 1000)
//
// Prints `listening on http://127.0.0.1:PORT` once it listens (PORT=0 picks a free port).
const http = require("http");

const interval = Number(process.env.INTERVAL_MS || 1000);

const page = `<!doctype html>
<meta charset="utf-8">
<title>forever iframe</title>
<p>The hidden iframe below never finishes loading; each script it receives posts the time here.</p>
<ul id="times"></ul>
<iframe src="/iframeLongConnection" style="display:none"></iframe>
<script>
  window.addEventListener("message", (event) => {
    if (event.origin !== location.origin) return;
    const item = document.createElement("li");
    item.textContent = event.data;
    document.getElementById("times").appendChild(item);
  });
</script>
`;

const server = http.createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (path === "/" || path === "/index.html") {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(page);
  } else if (path === "/iframeLongConnection") {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    // The article posts to a fixed target origin; the page's own origin is the one that works
    // wherever the server runs.
    const origin = JSON.stringify(`http://${req.headers.host}`).replace(/</g, "\\u003c");
    const timer = setInterval(() => {
      const time = JSON.stringify(new Date().toLocaleTimeString());
      res.write(`<script>window.parent.postMessage(${time}, ${origin});</script>\n`);
    }, interval);
    req.socket.on("close", () => clearInterval(timer));
  } else {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found\n");
  }
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
