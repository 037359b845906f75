// The HTTP handler both HTTP children measure: two awaited async "lookups", one real hop through
// the event loop (like an I/O call) and a ~270 B JSON body.
async function loadUser(id) {
  await null;
  return { id, name: `user${id}`, roles: ['reader', 'writer'] };
}

async function loadPosts(user) {
  await null;
  const posts = [];
  for (let i = 0; i < 5; i++) posts.push({ id: i, title: `post ${i}`, author: user.id });
  return posts;
}

export async function handle(req, res) {
  const id = Number(req.url.split('/')[2]) || 0;
  const user = await loadUser(id);
  const posts = await loadPosts(user);
  await new Promise((resolve) => setImmediate(resolve));
  const body = JSON.stringify({ user, posts, count: posts.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** `handle`, answering 500 if it throws. */
export const respond = (req, res) =>
  handle(req, res).catch(() => {
    res.statusCode = 500;
    res.end();
  });
