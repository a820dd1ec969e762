#!/usr/bin/env node
// Verifies every DKIM-Signature of the message on stdin with mailauth (an independent
// implementation), fetching keys from the DNS resolver given as the first argument
// ("127.0.0.1:PORT", the test's DnsRig). Prints one JSON line: a list of
// {domain, selector, algo, result, comment}. Used by tests/integ/test_dkim_sign.py.
'use strict';
const { Resolver } = require('dns').promises;
const { dkimVerify } = require('mailauth/lib/dkim/verify');

async function main() {
    const server = process.argv[2];
    if (!server) {
        console.error('usage: dkim-verify.js RESOLVER_ADDR:PORT < message');
        process.exit(2);
    }
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([server]);
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    const res = await dkimVerify(Buffer.concat(chunks), {
        resolver: async (name, rr) => {
            if (rr !== 'TXT') throw Object.assign(new Error('unexpected ' + rr), { code: 'ENOTFOUND' });
            return resolver.resolveTxt(name);
        }
    });
    const out = (res.results || []).map(r => ({
        domain: r.signingDomain, selector: r.selector, algo: r.algo,
        result: r.status && r.status.result, comment: r.status && r.status.comment
    }));
    console.log(JSON.stringify(out));
}

main().catch(err => { console.error(err.stack || String(err)); process.exit(1); });
