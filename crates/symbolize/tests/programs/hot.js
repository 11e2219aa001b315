// A JIT target: hotLeak runs hot enough for V8 to compile it to machine code, which
// `node --perf-basic-prof` names in /tmp/perf-<pid>.map. It spins for at most 60 s in short
// turns of the event loop; the test kills it sooner.
function hotLeak(n) { // MARK:hotLeak
  let s = 0;
  for (let i = 0; i < n; i++) s += i % 7;
  return s;
}

let total = 0;
const end = Date.now() + 60000;
(function spin() {
  for (let k = 0; k < 200; k++) total += hotLeak(1000);
  if (Date.now() < end) setImmediate(spin);
})();
