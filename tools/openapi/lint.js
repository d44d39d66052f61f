#!/usr/bin/env node
// chatdesk: lints OpenAPI files with Redocly's lint engine
// (@redocly/openapi-core, the library behind `redocly lint`) and the rules
// of redocly.yaml beside this file. Run through scripts/openapi-lint.sh,
// which installs the locked engine outside the repository and sets
// NODE_PATH to it.
//
//   node tools/openapi/lint.js FILE...
//
// Prints every problem; exits 0 when there is none (warnings count too:
// the rule set is strict), 1 when there is any, 64 on a usage error.

// Copyright (c) 2026 The chatdesk authors
//
// Permission to use, copy, modify, and distribute this software for any
// purpose with or without fee is hereby granted, provided that the above
// copyright notice and this permission notice appear in all copies.
//
// THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
// WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
// MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
// ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
// WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
// ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
// OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

'use strict';

const path = require('path');
const redocly = require('@redocly/openapi-core');

async function main(files) {
	const config = await redocly.loadConfig({
		configPath: path.join(__dirname, 'redocly.yaml'),
	});
	const version = require('@redocly/openapi-core/package.json').version;
	let bad = 0;
	for (const file of files) {
		const problems = await redocly.lint({ ref: file, config });
		const totals = redocly.getTotals(problems);
		redocly.formatProblems(problems, {
			format: 'stylish', color: false, totals, version,
			maxProblems: 200,
		});
		const n = totals.errors + totals.warnings;
		console.log(`${file}: ${totals.errors} errors, ` +
		    `${totals.warnings} warnings (@redocly/openapi-core ${version})`);
		bad += n;
	}
	return bad === 0 ? 0 : 1;
}

const files = process.argv.slice(2);
if (files.length === 0 || files[0].startsWith('-')) {
	console.error('usage: lint.js FILE...');
	process.exit(64);
}
main(files).then((rc) => process.exit(rc), (err) => {
	console.error(`lint.js: ${err && err.stack ? err.stack : err}`);
	process.exit(1);
});
