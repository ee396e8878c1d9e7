// The playground's service worker: caches every built file at install, then
// answers from the cache first, so the page works offline once loaded.
const CACHE = 'tsbpf-playground-__VERSION__';
const FILES = JSON.parse('__FILES__');

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('tsbpf-playground-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  // Shared links differ only in their query and hash: the page itself is one cached file.
  const url = new URL(request.url);
  const key = request.mode === 'navigate' ? new URL('./', self.location.href).href : url.origin + url.pathname;
  event.respondWith(caches.match(key).then((hit) => hit ?? fetch(request)));
});
