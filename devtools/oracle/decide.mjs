// Decide trust-policy cases with @cloud-copilot/iam-simulate, the second implementation the differential
// test compares the engine with. Reads one JSON case per line on stdin, writes one JSON answer per line:
//   in:  {"id": 1, "policy": {...}, "principal": "arn:aws:sts::...", "resource": "arn:aws:iam::...:role/R",
//         "account": "111122223333", "context": {"aws:PrincipalArn": "...", ...}}
//   out: {"id": 1, "result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "error", "detail": "..."}
// The principal's own permissions allow sts:AssumeRole on "*", so the trust policy alone decides.
// Installed by `make oracle` into build/oracle (git-ignored); run by `make differential`.
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const prefix = process.env.ORACLE_PREFIX ?? path.join(here, '..', '..', 'build', 'oracle')
const require = createRequire(path.join(prefix, 'package.json'))
const { runSimulation } = require('@cloud-copilot/iam-simulate')

const IDENTITY = {
  name: 'AssumeAnyRole',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }
}

async function decide(item) {
  const simulation = {
    request: {
      principal: item.principal,
      action: 'sts:AssumeRole',
      resource: { resource: item.resource, accountId: item.account },
      contextVariables: item.context
    },
    identityPolicies: [IDENTITY],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: item.policy
  }
  try {
    const response = await runSimulation(simulation, {})
    if (response.resultType === 'error') {
      return { id: item.id, result: 'error', detail: JSON.stringify(response.errors).slice(0, 500) }
    }
    return { id: item.id, result: response.overallResult }
  } catch (error) {
    return { id: item.id, result: 'error', detail: String(error).slice(0, 500) }
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  process.stdout.write(JSON.stringify(await decide(JSON.parse(line))) + '\n')
}
