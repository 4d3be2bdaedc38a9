'use strict';

const assert = require('node:assert/strict');
const { parseDuration, formatDuration, DurationError } = require('../../nodes/lib/core/kumo/duration');

function throwsDurationError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof DurationError, `expected DurationError, got ${err?.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('durations: numbers are seconds', function () {
  it('takes a number as seconds, fractions included', function () {
    assert.equal(parseDuration(1200), 1200);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(2.5), 2.5);
  });

  it('takes a string of digits as seconds, as an editor field holds it', function () {
    assert.equal(parseDuration('1200'), 1200);
    assert.equal(parseDuration(' 90 '), 90);
    assert.equal(parseDuration('0.25'), 0.25);
  });
});

describe('durations: KumoMTA (humantime) strings', function () {
  const cases = [
    ['20m', 1200],
    ['20 minutes', 1200],
    ['1 minute', 60],
    ['20min', 1200],
    ['1h 30m', 5400],
    ['1h30m', 5400],
    ['7 days', 604800],
    ['1d', 86400],
    ['1 day', 86400],
    ['90s', 90],
    ['15 seconds', 15],
    ['2 hours', 7200],
    ['2hr', 7200],
    ['1w', 604800],
    ['2 weeks', 1209600],
    ['500ms', 0.5],
    ['2s 500ms', 2.5],
    ['1month', 2630016],
    ['1M', 2630016],
    ['1y', 31557600],
    ['  20 minutes  ', 1200],
  ];
  for (const [text, seconds] of cases) {
    it(`reads ${JSON.stringify(text)} as ${seconds} s`, function () {
      assert.equal(parseDuration(text), seconds);
    });
  }

  it('keeps microseconds and nanoseconds as fractions of a second', function () {
    assert.ok(Math.abs(parseDuration('250us') - 0.00025) < 1e-12);
    assert.ok(Math.abs(parseDuration('17ns') - 17e-9) < 1e-15);
  });
});

describe('durations: bad values are refused with a message naming the setting', function () {
  it('refuses negative numbers and strings', function () {
    throwsDurationError(() => parseDuration(-1, 'retry_interval'), /^retry_interval must not be negative, got -1$/);
    throwsDurationError(() => parseDuration('-5m', 'max_age'), /^max_age "-5m" must not be negative$/);
  });

  it('refuses NaN and infinity', function () {
    throwsDurationError(() => parseDuration(NaN, 'max_age'), /max_age is not a number \(NaN\)/);
    throwsDurationError(() => parseDuration(Infinity, 'max_age'), /max_age must be finite/);
  });

  it('refuses an empty string', function () {
    throwsDurationError(() => parseDuration('', 'retry_interval'), /^retry_interval is empty/);
    throwsDurationError(() => parseDuration('   ', 'retry_interval'), /^retry_interval is empty/);
  });

  it('refuses an unknown unit, and units in the wrong case as KumoMTA does', function () {
    throwsDurationError(
      () => parseDuration('20 parsecs', 'retry_interval'),
      /retry_interval "20 parsecs" has an unknown unit "parsecs"; use ms, s, m, h, d or w/,
    );
    throwsDurationError(() => parseDuration('5 Minutes', 'max_age'), /unknown unit "Minutes"/);
  });

  it('refuses a number without its unit inside a string', function () {
    throwsDurationError(() => parseDuration('20 min 5', 'max_age'), /has the number 5 without a unit/);
  });

  it('refuses fractions inside a string, which humantime does not read', function () {
    throwsDurationError(() => parseDuration('1.5h', 'max_age'), /has a fraction/);
  });

  it('refuses words with no number', function () {
    throwsDurationError(() => parseDuration('soon', 'max_age'), /"soon" has no number before "soon"/);
  });

  it('refuses wrong types, saying which', function () {
    throwsDurationError(
      () => parseDuration(null, 'max_age'),
      /max_age must be a number of seconds or a duration string such as '20 minutes', got null/,
    );
    throwsDurationError(() => parseDuration(true, 'max_age'), /got boolean/);
    throwsDurationError(() => parseDuration({}, 'max_age'), /got object/);
    throwsDurationError(() => parseDuration([1], 'max_age'), /got an array/);
  });

  it('says "duration" when no setting is named', function () {
    throwsDurationError(() => parseDuration('x'), /^duration "x"/);
  });
});

describe('durations: written back as KumoMTA (humantime) writes them', function () {
  const cases = [
    [1200, '20m'],
    [5400, '1h 30m'],
    [604800, '7days'],
    [86400, '1day'],
    [90061, '1day 1h 1m 1s'],
    [2.5, '2s 500ms'],
    [0.5, '500ms'],
    [0, '0s'],
    [31557600, '1year'],
    [2630016 * 2, '2months'],
  ];
  for (const [seconds, text] of cases) {
    it(`formats ${seconds} s as ${JSON.stringify(text)}`, function () {
      assert.equal(formatDuration(seconds), text);
    });
  }

  it('reads back every formatted value as the same number of seconds', function () {
    for (const seconds of [1, 59, 61, 3599, 3601, 86399, 604800, 1234567, 2.5, 0.001]) {
      assert.equal(parseDuration(formatDuration(seconds)), seconds);
    }
  });

  it('refuses to format negative or non-finite values', function () {
    throwsDurationError(() => formatDuration(-1), /cannot format -1/);
    throwsDurationError(() => formatDuration(NaN), /cannot format NaN/);
  });
});
