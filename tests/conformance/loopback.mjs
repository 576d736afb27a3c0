// Preloaded into the suite's origin server: it listens on 127.0.0.1 only, never on every
// interface (the server calls listen(port) without a host).
import http from 'http'

const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (port, ...rest) {
  if (rest.length === 0 || typeof rest[0] !== 'string') return listen.call(this, port, '127.0.0.1', ...rest)
  return listen.call(this, port, ...rest)
}
