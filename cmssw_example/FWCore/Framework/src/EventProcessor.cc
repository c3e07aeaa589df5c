#include "FWCore/Framework/interface/EventProcessor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "FWCore/Utilities/interface/Exception.h"

namespace edm {

namespace {
using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
}  // namespace

/// State shared by the stream threads during the event loop.
struct EventProcessor::Loop {
  EventProcessor& self;
  std::atomic<bool> stop{false};

  std::mutex sourceMutex;  // guards: source_, nRead, sourceTiming, exhausted
  std::uint64_t nRead = 0;
  bool exhausted = false;
  ModuleTiming sourceTiming;

  std::mutex outputMutex;  // guards: output_, pending, nextToWrite, outputTiming, peakPending
  std::condition_variable outputCv;  // signalled when nextToWrite advances or the loop stops
  std::map<std::uint64_t, std::unique_ptr<Event>> pending;
  std::uint64_t nextToWrite = 0;
  std::uint64_t peakPending = 0;
  std::uint64_t maxInFlight = 1;  // events read but not yet written, at most (>= 1)
  ModuleTiming outputTiming;

  std::vector<std::vector<ModuleTiming>> producerTiming;  // [stream][producer], stream-private
  std::vector<std::uint64_t> eventsPerStream;             // stream-private slots

  // Start line: every stream thread waits here until all of them are running (or the loop is
  // stopped), so that no stream drains the source before the others have started.
  std::mutex startMutex;
  std::condition_variable startCv;
  unsigned started = 0;
  unsigned streams = 0;
  void waitForAllStreams() {
    std::unique_lock<std::mutex> lock(startMutex);
    ++started;
    startCv.notify_all();
    startCv.wait(lock, [this] { return started >= streams || stop.load(); });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(startMutex);
      stop = true;
      startCv.notify_all();
    }
    std::lock_guard<std::mutex> lock(outputMutex);  // wake streams waiting for room (back-pressure)
    outputCv.notify_all();
  }

  std::mutex errorMutex;
  std::exception_ptr firstError;

  explicit Loop(EventProcessor& p) : self(p) {}

  /// Next event or nullptr (input exhausted, maxEvents reached, or another stream failed).
  /// Back-pressure: at most maxInFlight events are read but not yet written; a stream asking for
  /// more waits here until the output has caught up (e.g. behind one slow early event), so the
  /// reorder buffer never holds more than maxInFlight - 1 events.
  std::unique_ptr<Event> next() {
    std::lock_guard<std::mutex> lock(sourceMutex);
    if (stop || exhausted) return nullptr;
    if (self.options_.maxEvents >= 0 && nRead >= static_cast<std::uint64_t>(self.options_.maxEvents)) {
      exhausted = true;
      return nullptr;
    }
    {
      // Lock order sourceMutex -> outputMutex; submit() takes outputMutex alone, so the stream
      // holding event nextToWrite always gets through and wakes this one.
      std::unique_lock<std::mutex> out(outputMutex);
      outputCv.wait(out, [this] { return stop.load() || nRead - nextToWrite < maxInFlight; });
      if (stop) return nullptr;
    }
    const auto start = Clock::now();
    std::unique_ptr<Event> event;
    try {
      event = self.source_->readEvent();
    } catch (...) {
      rethrowWithContext("reading event index " + std::to_string(nRead) + " in source '" + self.source_->label() +
                         "' (" + self.source_->type() + ")");
    }
    sourceTiming.seconds += secondsSince(start);
    if (!event) {
      exhausted = true;
      return nullptr;
    }
    if (event->id().index != nRead)
      throw Exception(errors::Category::LogicError,
                      "source '" + self.source_->label() + "' gave event index " + std::to_string(event->id().index) +
                          ", expected " + std::to_string(nRead));
    ++sourceTiming.events;
    ++nRead;
    return event;
  }

  /// Hand a finished event to the output module, which sees events in input order.
  void submit(std::unique_ptr<Event> event) {
    std::lock_guard<std::mutex> lock(outputMutex);
    const std::uint64_t index = event->id().index;
    pending.emplace(index, std::move(event));
    const std::uint64_t before = nextToWrite;
    for (auto it = pending.find(nextToWrite); it != pending.end(); it = pending.find(nextToWrite)) {
      const auto start = Clock::now();
      try {
        self.output_->write(*it->second);
      } catch (...) {
        rethrowWithContext(moduleContext("writing", self.output_->label(), self.output_->type(), *it->second));
      }
      outputTiming.seconds += secondsSince(start);
      ++outputTiming.events;
      pending.erase(it);
      ++nextToWrite;
    }
    if (pending.size() > peakPending) peakPending = pending.size();  // events left waiting for an earlier one
    if (nextToWrite != before) outputCv.notify_all();
  }

  static std::string moduleContext(const char* what, const std::string& label, const std::string& type,
                                   const Event& event) {
    return std::string(what) + " module '" + label + "' (" + type + ") on event " + std::to_string(event.id().event) +
           " (index " + std::to_string(event.id().index) + ", stream " + std::to_string(event.streamID()) + ")";
  }

  void runStream(unsigned s) {
    try {
      waitForAllStreams();
      while (auto event = next()) {
        event->setStreamID(s);
        for (std::size_t p = 0; p < self.producers_.size(); ++p) {
          const auto start = Clock::now();
          try {
            self.producers_[p]->module(s).produce(*event);
          } catch (...) {
            rethrowWithContext(moduleContext("running", self.producers_[p]->label(), self.producers_[p]->type(), *event));
          }
          producerTiming[s][p].seconds += secondsSince(start);
          ++producerTiming[s][p].events;
        }
        ++eventsPerStream[s];
        submit(std::move(event));
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!firstError) firstError = std::current_exception();
      }
      release();  // stop every stream, including those waiting for room in the reorder buffer
    }
  }
};

EventProcessor::EventProcessor(ProcessOptions options, std::unique_ptr<InputSource> source,
                               std::vector<std::unique_ptr<stream::ProducerHolderBase>> producers,
                               std::unique_ptr<OutputModule> output)
    : options_(options), source_(std::move(source)), producers_(std::move(producers)), output_(std::move(output)) {
  if (options_.numberOfStreams < 1)
    throw Exception(errors::Category::Configuration, "process.numberOfStreams must be >= 1");
  if (options_.maxEventsInFlight < 0)
    throw Exception(errors::Category::Configuration, "process.maxEventsInFlight must be >= 1 (or 0 = 2 x streams)");
  if (!source_ || !output_) throw Exception(errors::Category::LogicError, "a job needs a source and an output module");
}

EventProcessor::~EventProcessor() = default;

TimeReport EventProcessor::run() {
  const auto jobStart = Clock::now();
  const unsigned streams = options_.numberOfStreams;
  Loop loop(*this);
  loop.sourceTiming = {source_->label(), source_->type(), "source"};
  loop.outputTiming = {output_->label(), output_->type(), "output"};
  std::vector<double> producerSetup(producers_.size(), 0.0);

  loop.maxInFlight = options_.maxEventsInFlight > 0 ? static_cast<std::uint64_t>(options_.maxEventsInFlight)
                                                     : 2 * static_cast<std::uint64_t>(streams);

  // beginJob: source, producers (global caches + stream instances), output; an exception names the module.
  const auto guarded = [](const char* phase, const std::string& label, const std::string& type, auto&& call) {
    try {
      call();
    } catch (...) {
      rethrowWithContext(std::string(phase) + " of module '" + label + "' (" + type + ")");
    }
  };
  auto start = Clock::now();
  guarded("beginJob", source_->label(), source_->type(), [&] { source_->beginJob(); });
  loop.sourceTiming.setupSeconds = secondsSince(start);
  for (std::size_t p = 0; p < producers_.size(); ++p) {
    start = Clock::now();
    guarded("beginJob", producers_[p]->label(), producers_[p]->type(), [&] { producers_[p]->beginJob(streams); });
    producerSetup[p] = secondsSince(start);
  }
  start = Clock::now();
  guarded("beginJob", output_->label(), output_->type(), [&] { output_->beginJob(); });
  loop.outputTiming.setupSeconds = secondsSince(start);

  loop.producerTiming.assign(streams, std::vector<ModuleTiming>(producers_.size()));
  loop.eventsPerStream.assign(streams, 0);
  loop.streams = streams;

  // The event loop: N streams on N threads (stream 0 on a thread of its own too, so that every
  // stream sees the same environment).
  const auto loopStart = Clock::now();
  {
    std::vector<std::thread> threads;
    threads.reserve(streams);
    for (unsigned s = 0; s < streams; ++s) {
      try {
        threads.emplace_back([&loop, s] { loop.runStream(s); });
      } catch (...) {  // could not start a thread: stop the ones running, then report
        {
          std::lock_guard<std::mutex> lock(loop.errorMutex);
          if (!loop.firstError) loop.firstError = std::current_exception();
        }
        loop.release();  // the started threads stop waiting at the start line
        break;
      }
    }
    for (auto& t : threads) t.join();
  }
  const double loopSeconds = secondsSince(loopStart);
  if (loop.firstError) std::rethrow_exception(loop.firstError);

  if (loop.nextToWrite != loop.nRead || !loop.pending.empty())
    throw Exception(errors::Category::EventProcessing,
                    "read " + std::to_string(loop.nRead) + " events but wrote " + std::to_string(loop.nextToWrite));

  // endJob in reverse order of construction; the output commits its file last.
  for (auto& p : producers_) guarded("endJob", p->label(), p->type(), [&] { p->endJob(); });
  source_->endJob();
  guarded("endJob", output_->label(), output_->type(), [&] { output_->endJob(); });

  TimeReport report;
  report.streams = streams;
  report.events = loop.nRead;
  report.loopSeconds = loopSeconds;
  report.eventsPerStream = loop.eventsPerStream;
  report.maxEventsInFlight = loop.maxInFlight;
  report.peakBufferedEvents = loop.peakPending;
  report.modules.push_back(loop.sourceTiming);
  for (std::size_t p = 0; p < producers_.size(); ++p) {
    ModuleTiming total{producers_[p]->label(), producers_[p]->type(), "producer"};
    total.setupSeconds = producerSetup[p];
    for (unsigned s = 0; s < streams; ++s) {
      total.events += loop.producerTiming[s][p].events;
      total.seconds += loop.producerTiming[s][p].seconds;
    }
    report.modules.push_back(total);
  }
  report.modules.push_back(loop.outputTiming);
  report.jobSeconds = secondsSince(jobStart);
  return report;
}

}  // namespace edm
