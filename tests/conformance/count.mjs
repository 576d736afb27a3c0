// Counts the suite's results by kind as cache-tests.fyi does: a test passes when its result
// is true and every test it depends on passed. Usage: node count.mjs SUITE_DIR RESULTS.json
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsFile] = process.argv.slice(2)
const load = async (p) => (await import(pathToFileURL(path.join(suiteDir, p)).href)).default
const suites = [...await load('tests/index.mjs'), await load('tests/surrogate-control.mjs')]
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))
const tests = new Map()
for (const suite of suites) for (const test of suite.tests) if (!test.browser_only) tests.set(test.id, test)

const passed = (id) => {
  const test = tests.get(id)
  return test !== undefined && results[id] === true && (test.depends_on || []).every(passed)
}

const counts = {}
const failures = []
for (const [id, test] of tests) {
  const kind = test.kind || 'required'
  counts[kind] = counts[kind] || { total: 0, passed: 0 }
  counts[kind].total++
  if (passed(id)) counts[kind].passed++
  else if (kind !== 'check') failures.push(`${kind.padEnd(8)} ${id}  ${JSON.stringify(results[id])}`)
}
if (process.env.CONFORMANCE_VERBOSE) console.log(failures.sort().join('\n'))
for (const kind of ['required', 'optimal', 'check']) {
  const c = counts[kind]
  console.log(`${kind.padEnd(8)} ${String(c.passed).padStart(3)} / ${c.total}`)
}
