/** The merchant credentials the simulator accepts; public on purpose, so a fresh clone works. */
export interface SimulatorCredentials {
  appId: string
  appSecret: string
  signKey: string
}

export const DEMO_CREDENTIALS = {
  appId: 'demo-app-id',
  appSecret: 'demo-app-secret-not-for-production',
  signKey: 'demo-sign-key'
} as const
