import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Runs the `threads` command as a user would, in a child process, bounded in time. */

export const BIN = fileURLToPath(new URL('../../bin/threads.ts', import.meta.url))
export const RUN_MS = 20_000

export interface Run { code: number | null, stdout: string, stderr: string }

/** Runs `threads …` to the end (at most RUN_MS). */
export function threads (...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', chunk => { stdout += String(chunk) })
    child.stderr.on('data', chunk => { stderr += String(chunk) })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`threads ${args.join(' ')} did not finish within ${RUN_MS} ms: ${stdout}${stderr}`))
    }, RUN_MS)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** The last line a successful `--json` run printed. */
export const json = <T>(run: Run): T => {
  assert.equal(run.code, 0, `exit code 0 (stderr: ${run.stderr})`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as T
}

export interface Daemon {
  readonly process: ChildProcessWithoutNullStreams
  readonly printed: { peerId: string, addresses: string[], stores: string[] }
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Starts `threads daemon` on `path` and waits for the line it prints on start. */
export async function startDaemon (path: string, listen: string, ...options: string[]): Promise<Daemon> {
  const daemon = spawn(process.execPath, [BIN, 'daemon', '--path', path, '--listen', listen, ...options, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => daemon.on('exit', (code, signal) => { resolve({ code, signal }) }))
  let stdout = ''
  let stderr = ''
  daemon.stderr.on('data', chunk => { stderr += String(chunk) })
  const printed = await new Promise<Daemon['printed']>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the daemon never printed its addresses: ${stdout}${stderr}`)) }, RUN_MS)
    daemon.stdout.on('data', chunk => {
      stdout += String(chunk)
      if (!stdout.includes('\n')) return
      clearTimeout(timer)
      resolve(JSON.parse(stdout.split('\n')[0]!))
    })
  })
  return { process: daemon, printed, exited }
}
