import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { clientAddress, clientKey, peerAddress } from '../../src/http/client-key.js'

const request = (fields: { ip: string, remoteAddress?: string, apiKeyId?: string }): FastifyRequest =>
  ({ ip: fields.ip, apiKeyId: fields.apiKeyId, socket: { remoteAddress: fields.remoteAddress ?? fields.ip } }) as unknown as FastifyRequest

t.test('a request counts against its valid API key, else against its client address', async (t) => {
  t.equal(clientKey(request({ ip: '192.0.2.1', apiKeyId: 'key:0011223344556677' })), 'key:0011223344556677')
  t.equal(clientKey(request({ ip: '192.0.2.1' })), 'ip:192.0.2.1')
  t.equal(clientKey(request({ ip: '2001:db8::1' })), clientKey(request({ ip: '2001:db8::ffff:2' })), 'an IPv6 /64 is one client')
  t.not(clientKey(request({ ip: '192.0.2.1' })), clientKey(request({ ip: '192.0.2.2' })))
})

t.test('the peer address: request.ip when it is an address, the socket\'s when a forwarded value is not', async (t) => {
  t.equal(peerAddress(request({ ip: '198.51.100.1', remoteAddress: '127.0.0.1' })), '198.51.100.1', 'a trusted proxy\'s forwarded address')
  t.equal(peerAddress(request({ ip: '<script>', remoteAddress: '127.0.0.1' })), '127.0.0.1')
  t.equal(peerAddress(request({ ip: '198.51.100.1:4711', remoteAddress: '127.0.0.1' })), '127.0.0.1', 'an address with a port is not an address')
  t.equal(peerAddress(request({ ip: '203.0.113.9' })), '203.0.113.9', 'no proxy: the peer itself')
  t.equal(peerAddress({ ip: '', socket: {} } as unknown as FastifyRequest), '', 'a socket already gone: no address, not a throw')
})

t.test('client buckets: IPv4 as it is, IPv6 by its /64 and case-insensitive, IPv4-mapped IPv6 as the IPv4 address', async (t) => {
  t.equal(clientAddress('192.0.2.1'), '192.0.2.1')
  t.equal(clientAddress('2001:db8::1'), clientAddress('2001:db8:0:0:ffff::2'))
  t.not(clientAddress('2001:db8::1'), clientAddress('2001:db8:0:1::1'), 'another /64 is another client')
  t.equal(clientAddress('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(clientAddress('2001:DB8::1'), clientAddress('2001:db8::1'))
})
