import type { IncomingHttpHeaders } from 'node:http'
import { checkCredentials } from './auth.js'
import type { SimulatorCredentials } from './credentials.js'
import { answer, type Reply } from './envelope.js'
import { readPayload } from './payload.js'
import { loadOrder, MACHINE, orderDataAt, SCENARIO_MACHINES, SCENARIO_ORDERS } from './scenarios.js'

export interface OrderQuery {
  orderId: string
  headers: IncomingHttpHeaders
  /** the raw request body, undefined when there was none */
  body: unknown
  /** how far into its run a clock order is; asked only for one answered on its own machine, which starts the run */
  elapsedMs: (orderId: string, machineNo: string) => number
}

/** The vendor's int64 order ids: positive, no sign, no leading zero. */
const ORDER_ID = /^[1-9]\d{0,18}$/

/**
 * The vendor's answer to an order query, in the vendor's order of checks: headers, payload,
 * machine, order. Pure but for starting a clock order's run, so fault injection can also cut
 * this very answer in half.
 * (The docs name no timestamp window, so any timestamp is accepted.)
 */
export function answerOrderQuery (query: OrderQuery, credentials: SimulatorCredentials): Reply {
  const authCode = checkCredentials(query.headers, credentials)
  if (authCode !== 0) return answer(401, authCode, null)

  const payload = readPayload(query.body, credentials.signKey)
  if (!payload.ok) return answer(200, payload.code)
  if (!ORDER_ID.test(query.orderId)) return answer(200, 4003)

  const { machineNo } = payload.params
  const machine = Object.hasOwn(SCENARIO_MACHINES, machineNo) ? SCENARIO_MACHINES[machineNo] : undefined
  if (machine === undefined) return answer(200, 30003)
  if (machine === 'offline') return answer(200, 30002)
  if (machine === 'notOperating') return answer(200, 30004)

  if (machineNo === MACHINE.load) return answer(200, 0, loadOrder(query.orderId))
  const scenario = Object.hasOwn(SCENARIO_ORDERS, query.orderId) ? SCENARIO_ORDERS[query.orderId] : undefined
  if (scenario === undefined) return answer(200, 80002)
  if (scenario.machineNo !== machineNo) return answer(200, 6007)
  if (scenario.error !== undefined) return answer(200, scenario.error.code, {}, scenario.error.message)

  const elapsedMs = scenario.phases === undefined ? 0 : query.elapsedMs(query.orderId, machineNo)
  return answer(200, 0, orderDataAt(scenario, elapsedMs) ?? {})
}
