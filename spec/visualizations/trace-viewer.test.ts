import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { tempPeer } from '../helpers/temp-peer.ts'
import { twoPeerSync } from '../helpers/two-peer-sync.ts'

const CHROMIUM = '/usr/bin/chromium'
const VIEWER = pathToFileURL(new URL('../../visualizations/trace-viewer.html', import.meta.url).pathname).href
const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname
const absent = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does) to run the trace viewer test`

describe('trace viewer', { skip: absent }, () => {
  let dir: string
  let browser: Browser
  const traces: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'threads-trace-viewer-'))
    traces.push(join(dir, 'alice.jsonl'), join(dir, 'bob.jsonl'))
    // A two-peer sync over 127.0.0.1, each peer recording its own trace.
    const alice = await tempPeer({ trace: traces[0] })
    const bob = await tempPeer({ trace: traces[1] })
    try {
      await twoPeerSync(alice, bob)
    } finally {
      await alice.dispose()
      await bob.dispose()
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // Chromium's first start on a loaded 2-core machine has taken over 20 s; waiting longer costs nothing when it is quick.
      timeout: 90_000
    })
  })

  after(async () => {
    await browser?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('replays a recorded two-peer sync: steps, messages, and each actor\'s state on its diagram', async () => {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } })
    const requests: string[] = []
    page.on('request', request => { if (!request.url().startsWith('file:')) requests.push(request.url()) })
    const errors: string[] = []
    page.on('pageerror', error => { errors.push(error.message) })
    page.setDefaultTimeout(10_000)
    await page.goto(VIEWER)
    await page.setInputFiles('#files', traces)
    await page.waitForFunction('/^step 1 \\/ \\d+$/.test(document.getElementById("position").textContent)', undefined, { timeout: 10_000 })
      .catch(() => { throw new Error(`the viewer never showed step 1 of the trace (errors: ${errors.join('; ')})`) })

    await page.click('#last')
    const [stepNow, total] = (await page.textContent('#position'))!.match(/\d+/g)!.map(Number)
    assert.equal(stepNow, total, 'the last step is shown')
    assert.ok(total! > 20, `a sync takes many steps (${total})`)

    // Both peers' actors are columns of the sequence diagram.
    const columns = await page.$$eval('#sequence g.column', nodes => nodes.map(node => node.getAttribute('data-actor')!))
    for (const peer of ['alice', 'bob']) {
      assert.ok(columns.some(column => column.startsWith(`${peer} thread:`) && column.endsWith('/dispatcher')), `${peer}'s dispatcher has a column: ${columns.join(', ')}`)
    }

    // Each log's sync actor, at each peer, is in the state its last snapshot named, on the table and its diagram.
    const rows = await page.$$eval('#actors tbody tr', nodes => nodes.map(node => [...node.querySelectorAll('td')].map(cell => cell.textContent)))
    const logSyncs = rows.filter(([, , machine]) => machine === 'log sync')
    assert.equal(logSyncs.length, 4, 'two logs, each synced by both peers')
    // A peer closing while the other still pulls from it leaves that pull backing off: a state the trace ends in too.
    // An actor the closing peer stopped shows its last state with that status.
    for (const [peer, actor, , shown] of logSyncs) {
      const state = shown!.replace(/ \(stopped\)$/, '')
      assert.ok(['idle', 'holding', 'pushing', 'backingOff'].includes(state) || state.startsWith('pulling'), `${peer} ${actor} is ${shown}`)
    }
    await page.click('#actors tbody tr:has(td:text-is("log sync"))')
    assert.match((await page.textContent('#diagram-title'))!, /log sync machine/)
    const shown = await page.textContent('#actors tbody tr.selected td.state')
    assert.deepEqual(await page.$$eval('#diagram g.active', nodes => nodes.map(node => node.getAttribute('data-node'))), [shown!.replace(/ \(stopped\)$/, '')])

    // Stepping back finds bob's record arriving at alice's dispatcher from the network.
    let found = false
    for (let i = 0; i < total! && !found; i++) {
      await page.keyboard.press('ArrowLeft')
      const text = (await page.textContent('#event'))!
      found = text.startsWith('alice: from outside → dispatcher') && text.includes('"type": "ingest"')
    }
    assert.ok(found, 'an ingest at alice\'s dispatcher is among the steps')
    assert.ok(((await page.textContent('#position'))!).startsWith('step '), 'the position follows the steps')
    assert.equal(await page.locator('#sequence .row.current').count(), 1, 'the current step is highlighted')

    await page.click('#last')
    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'trace-viewer.png'), fullPage: true })
    assert.ok((await readFile(join(ARTIFACTS, 'trace-viewer.png'))).byteLength > 10_000)
    assert.deepEqual(errors, [], 'no script errors')
    assert.deepEqual(requests, [], 'nothing is fetched from the network')
    await page.close()
  })
})
