// edm::TimeReport: per-module timing of a job, printed at the end like CMSSW's
// `TimeReport` summary (options.wantSummary = True).
//
// For every module: the events it processed, the total time spent in it summed over all streams,
// the mean time per event, and events/s = events / total (the rate of ONE stream running only
// this module). The header gives the event loop's wall time and throughput over all streams.
#ifndef FWCore_Framework_TimeReport_h
#define FWCore_Framework_TimeReport_h

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace edm {

struct ModuleTiming {
  std::string label;
  std::string type;
  std::string kind;           ///< "source", "producer" or "output"
  std::uint64_t events = 0;   ///< calls (one per event)
  double seconds = 0.0;       ///< total over all streams
  double setupSeconds = 0.0;  ///< beginJob (e.g. loading the model into the global cache)

  double meanMilliseconds() const { return events ? 1e3 * seconds / events : 0.0; }
  double eventsPerSecond() const { return seconds > 0 ? events / seconds : 0.0; }
};

struct TimeReport {
  unsigned streams = 0;
  std::uint64_t events = 0;
  double loopSeconds = 0.0;                 ///< wall time of the event loop
  double jobSeconds = 0.0;                  ///< wall time of beginJob + loop + endJob
  std::vector<std::uint64_t> eventsPerStream;
  std::uint64_t maxEventsInFlight = 0;      ///< the back-pressure bound of the job
  std::uint64_t peakBufferedEvents = 0;     ///< most events ever waiting in the reorder buffer
  std::vector<ModuleTiming> modules;        ///< source, producers (path order), output

  double eventsPerSecond() const { return loopSeconds > 0 ? events / loopSeconds : 0.0; }
  /// The human-readable table (every line starts with "TimeReport").
  void print(std::ostream& out) const;
  /// The same numbers as a JSON object (for scripts: demo summary, benchmarks).
  std::string toJson() const;
};

}  // namespace edm

#endif  // FWCore_Framework_TimeReport_h
