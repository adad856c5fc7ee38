// Shared by the main page (index.html) and the city board (city.html), loaded before either's
// script: one definition of how a view keeps only its newest answer.

// A view draws only the answer to its newest query: a screen loads with default values when it
// opens, and when that first answer arrives after the user's own query it must not replace it
// (主动治理 drew "no surge" over the surge the leader asked for).
// newestOnly()(promise) rejects with STALE once a newer one was started. Every screen that
// loads on opening and again on a query keeps one per view or card (a box that several loaders
// draw in keeps it on the box, box.newest); a loader returns on STALE without a word.
const STALE = Symbol("stale");
function newestOnly() {
  let seq = 0;
  return (promise) => {
    const mine = ++seq;
    return promise.then(
      (value) => { if (mine !== seq) throw STALE; return value; },
      (err) => { throw mine !== seq ? STALE : err; });
  };
}
