import { randomUUID } from 'node:crypto'
import type { Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors/catalogue.js'
import { rawProblemAnswer } from '../http/raw-problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the open client connections: bounded by MAX_CONNECTIONS; server.ts closes the idle ones at shutdown */
    connections: ConnectionGuard
  }
}

export interface ConnectionGuard {
  /** client connections open now */
  readonly open: number
  /**
   * For shutdown: closes every connection with no request in progress (idle keep-alive, silent,
   * half-sent), closes the busy ones as their answers end, and refuses new ones.
   */
  closeIdle: () => void
}

/**
 * Bounds the open client connections, each of which holds a file descriptor. A connection over
 * `max` is answered with a 503 problem and closed, where Node's own server.maxConnections would
 * drop it without a word. Node's HTTP server takes a socket in its 'connection' listener, so
 * that listener is moved behind this one and is handed only the sockets there is room for.
 */
export function guardConnections (server: Server, max: number, log: FastifyBaseLogger): ConnectionGuard {
  const open = new Set<Socket>()
  // the latest answer on each connection: unfinished means a request is in progress
  const latestResponse = new WeakMap<Socket, ServerResponse>()
  let closing = false
  let full = false

  const serveConnection = server.listeners('connection') as Array<(socket: Socket) => void>
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    if (closing) return refuse(socket, 'The service is shutting down; try again shortly.')
    if (open.size >= max) {
      // once per episode: an attack would otherwise write a line per connection
      if (!full) log.warn({ maxConnections: max }, 'MAX_CONNECTIONS reached: refusing new connections with 503')
      full = true
      return refuse(socket, 'Too many open connections; try again shortly.')
    }
    full = false
    open.add(socket)
    socket.once('close', () => open.delete(socket))
    for (const listener of serveConnection) listener.call(server, socket)
  })

  server.on('request', (request, response: ServerResponse) => { latestResponse.set(request.socket, response) })

  // listen() failures reach Fastify's listen(); the only other 'error' of a net.Server is a failed
  // accept() (EMFILE, ENFILE), after which it still listens and the next connection may succeed
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall === 'accept') log.warn({ err: error }, 'could not accept a connection; still serving')
  })

  return {
    get open () { return open.size },
    closeIdle () {
      closing = true
      for (const socket of open) {
        const response = latestResponse.get(socket)
        if (response === undefined || response.writableFinished) socket.destroy()
        else response.once('close', () => socket.end())
      }
    }
  }
}

/** A minimal HTTP/1.1 503 problem, written straight to the socket; the socket is closed once it is sent. */
function refuse (socket: Socket, detail: string): void {
  // no HTTP parser owns this socket: a client's reset would otherwise be an uncaught error
  socket.on('error', () => {})
  socket.once('finish', () => socket.destroy())
  socket.end(rawProblemAnswer(new AppError('UNAVAILABLE', { detail }), randomUUID()))
}

/** Guards the app's server; server.ts calls `app.connections.closeIdle()` at shutdown. */
const connections: FastifyPluginAsync<{ maxConnections: number }> = async (app, { maxConnections }) => {
  app.decorate('connections', guardConnections(app.server, maxConnections, app.log))
}

export const connectionsPlugin = fp(connections, { name: 'connections' })
