// edm::EventProcessor: runs a job (source -> producers -> output) on N concurrent streams.
//
// Like CMSSW's multi-threaded framework, reduced to its core:
//  * beginJob: every producer creates its global cache once and one module instance per stream;
//  * N std::threads ("streams") each loop: take the next event from the shared source (under a
//    lock), run the producers in path order on it, hand it to the output module;
//  * the output module gets events one at a time in input order (events that finish early wait
//    in a reorder buffer), so the output is the same for any number of streams;
//  * the reorder buffer is bounded: at most maxEventsInFlight events are read but not yet written;
//    a stream wanting a new event beyond that waits (back-pressure) until the output catches up,
//    so one stalled early event cannot make the buffer grow without limit;
//  * an exception leaving a module carries the module's label, type, event and stream as context
//    (edm::Exception::addContext; non-framework exceptions are nested in an edm::Exception);
//  * every event is read exactly once and written exactly once (checked at the end);
//  * the first exception on any stream stops all streams (no new events are started), the job
//    ends without endJob() of the output (no partial file is committed) and the exception is
//    rethrown from run() on the calling thread;
//  * a TimeReport with per-module timing is returned.
#ifndef FWCore_Framework_EventProcessor_h
#define FWCore_Framework_EventProcessor_h

#include <cstdint>
#include <memory>
#include <vector>

#include "FWCore/Framework/interface/InputSource.h"
#include "FWCore/Framework/interface/OutputModule.h"
#include "FWCore/Framework/interface/TimeReport.h"
#include "FWCore/Framework/interface/stream/ProducerHolder.h"

namespace edm {

struct ProcessOptions {
  unsigned numberOfStreams = 1;  ///< >= 1
  std::int64_t maxEvents = -1;   ///< -1: all events of the source
  /// Most events read but not yet written (in flight on a stream or waiting in the reorder
  /// buffer); >= 1, 0 = 2 x numberOfStreams. Below numberOfStreams some streams idle.
  std::int64_t maxEventsInFlight = 0;
};

class EventProcessor {
 public:
  EventProcessor(ProcessOptions options, std::unique_ptr<InputSource> source,
                 std::vector<std::unique_ptr<stream::ProducerHolderBase>> producers,
                 std::unique_ptr<OutputModule> output);
  ~EventProcessor();

  /// beginJob, the event loop, endJob. Throws the first error of any stream.
  TimeReport run();

 private:
  struct Loop;
  ProcessOptions options_;
  std::unique_ptr<InputSource> source_;
  std::vector<std::unique_ptr<stream::ProducerHolderBase>> producers_;
  std::unique_ptr<OutputModule> output_;
};

}  // namespace edm

#endif  // FWCore_Framework_EventProcessor_h
