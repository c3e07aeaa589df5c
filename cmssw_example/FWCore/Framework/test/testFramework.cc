// Unit tests of the framework alone: ParameterSet, Event, EventProcessor (exactly once, in
// order, for 1..8 streams; error propagation; the global cache is made once; exceptions carry the
// module's label as context; the reorder buffer is bounded behind a stalled event).
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "FWCore/Framework/interface/Event.h"
#include "FWCore/Framework/interface/EventProcessor.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "FWCore/Utilities/interface/TestMacros.h"

namespace {

// ---- a toy job: the source makes events carrying a number, the producer squares it ----------
class CountingSource : public edm::InputSource {
 public:
  explicit CountingSource(std::uint64_t n, std::int64_t failAt = -1)
      : edm::InputSource("source", "CountingSource"), n_(n), failAt_(failAt) {}
  std::unique_ptr<edm::Event> readEvent() override {
    if (next_ == n_) return nullptr;
    if (static_cast<std::int64_t>(next_) == failAt_) throw std::runtime_error("unreadable record");
    auto event = std::make_unique<edm::Event>(edm::EventID{1000 + next_, next_});
    event->put("source", std::make_unique<std::uint64_t>(next_));
    ++next_;
    return event;
  }

 private:
  std::uint64_t n_;
  std::int64_t failAt_;
  std::uint64_t next_ = 0;
};

struct SquareCache {
  std::uint64_t offset = 0;
  unsigned streams = 0;  ///< what initializeGlobalCache(pset, streams) was told
};
std::atomic<int> cachesMade{0};
std::atomic<int> produceCalls{0};
unsigned streamsExpected = 1;  // the job's numberOfStreams, set by runToy
std::atomic<int> startedWhileStalled{-1};  // produce() calls after the stalled event's, at the end of its stall

class SquareProducer : public edm::stream::EDProducer<edm::GlobalCache<SquareCache>> {
 public:
  static void validate(const edm::ParameterSet& pset) {
    for (const char* key : {"failAt", "missingAt", "stallAt", "stallMs"}) pset.getUntrackedParameter<std::int64_t>(key, -1);
  }
  static std::unique_ptr<SquareCache> initializeGlobalCache(const edm::ParameterSet&, unsigned streams) {
    ++cachesMade;
    return std::make_unique<SquareCache>(SquareCache{7, streams});
  }
  SquareProducer(const edm::ParameterSet& pset, const SquareCache* cache)
      : edm::stream::EDProducer<edm::GlobalCache<SquareCache>>(cache),
        failAt_(pset.getUntrackedParameter<std::int64_t>("failAt", -1)),
        missingAt_(pset.getUntrackedParameter<std::int64_t>("missingAt", -1)),
        stallAt_(pset.getUntrackedParameter<std::int64_t>("stallAt", -1)),
        stallMs_(pset.getUntrackedParameter<std::int64_t>("stallMs", 0)) {}
  void beginStream(unsigned stream) override { rng_.seed(stream); }
  void produce(edm::Event& event) override {
    ++produceCalls;
    const auto n = event.get<std::uint64_t>("source");
    if (static_cast<std::int64_t>(n) == failAt_) throw std::runtime_error("boom at " + std::to_string(n));
    if (static_cast<std::int64_t>(n) == missingAt_) event.get<double>("nothing");  // edm::Exception ProductNotFound
    if (static_cast<std::int64_t>(n) == stallAt_) {  // a slow early event: the other streams run ahead
      std::this_thread::sleep_for(std::chrono::milliseconds(stallMs_));
      startedWhileStalled = produceCalls.load() - static_cast<int>(n) - 1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 300));  // shuffle completion order
    if (globalCache()->streams != streamsExpected) throw std::runtime_error("global cache told the wrong streams");
    event.put(moduleLabel(), std::make_unique<std::uint64_t>(n * n + globalCache()->offset));
  }

 private:
  std::int64_t failAt_, missingAt_, stallAt_, stallMs_;
  std::mt19937 rng_;
};

class RecordingOutput : public edm::OutputModule {
 public:
  RecordingOutput(std::vector<std::uint64_t>* written, bool* committed, std::int64_t failAt = -1)
      : edm::OutputModule("out", "RecordingOutput"), written_(written), committed_(committed), failAt_(failAt) {}
  void write(const edm::Event& event) override {
    if (static_cast<std::int64_t>(event.id().index) == failAt_)
      throw edm::Exception(edm::errors::Category::FileOpenError, "disk full");
    CHECK(event.get<std::uint64_t>("square") == event.id().index * event.id().index + 7);
    written_->push_back(event.id().index);
  }
  void endJob() override { *committed_ = true; }

 private:
  std::vector<std::uint64_t>* written_;
  bool* committed_;
  std::int64_t failAt_;
};

/// Toy job. `config` may set square.{failAt,missingAt,stallAt,stallMs}, source.failAt, out.failAt,
/// process.maxEventsInFlight.
edm::TimeReport runToy(unsigned streams, std::uint64_t events, const std::string& config,
                       std::vector<std::uint64_t>& written, bool& committed, std::int64_t maxEvents = -1) {
  const auto pset = edm::ParameterSet::fromString(config, "toy");
  streamsExpected = streams;
  std::vector<std::unique_ptr<edm::stream::ProducerHolderBase>> producers;
  producers.push_back(std::make_unique<edm::stream::ProducerHolder<SquareProducer>>("square", "SquareProducer",
                                                                                   pset.subset("square")));
  edm::ProcessOptions options{streams, maxEvents};
  options.maxEventsInFlight = pset.subset("process").getUntrackedParameter<std::int64_t>("maxEventsInFlight", 0);
  edm::EventProcessor processor(
      options, std::make_unique<CountingSource>(events, pset.subset("source").getUntrackedParameter<std::int64_t>("failAt", -1)),
      std::move(producers),
      std::make_unique<RecordingOutput>(&written, &committed, pset.subset("out").getUntrackedParameter<std::int64_t>("failAt", -1)));
  return processor.run();
}

void testParameterSet() {
  const auto pset = edm::ParameterSet::fromString(
      "# comment\n"
      "process.numberOfStreams = 4\n"
      "a.path = \"with spaces # not a comment\"  # a comment\n"
      "a.ratio = 0.5 # trailing\n"
      "a.flag = true\n"
      "a.big = 18446744073709551615\n"
      "a.url = x#y\n",
      "cfg.txt");
  CHECK(pset.subset("process").getParameter<int>("numberOfStreams") == 4);
  const auto a = pset.subset("a");
  CHECK(a.getParameter<std::string>("path") == "with spaces # not a comment");
  CHECK(a.getParameter<double>("ratio") == 0.5);
  CHECK(a.getParameter<bool>("flag"));
  CHECK(a.getParameter<std::uint64_t>("big") == 18446744073709551615ull);
  CHECK(a.getParameter<std::string>("url") == "x#y");
  CHECK(a.getUntrackedParameter<int>("missing", 3) == 3);
  CHECK(pset.unusedParameters().empty());
  CHECK_THROWS(a.getParameter<int>("ratio"), edm::Exception, "cfg.txt:4: parameter 'a.ratio' must be an integer");
  CHECK_THROWS(a.getParameter<int>("nothere"), edm::Exception, "missing required parameter 'a.nothere'");
  CHECK_THROWS(a.getParameter<std::uint64_t>("ratio"), edm::Exception, "non-negative integer");
  CHECK_THROWS(edm::ParameterSet::fromString("x = 1\nx = 2\n", "dup.txt"), edm::Exception,
               "dup.txt:2: key 'x' already set at dup.txt:1");
  CHECK_THROWS(edm::ParameterSet::fromString("just words\n", "bad.txt"), edm::Exception, "bad.txt:1: expected");
  CHECK_THROWS(edm::ParameterSet::fromString("a b = 1\n", "bad.txt"), edm::Exception, "invalid key 'a b'");
  CHECK_THROWS(edm::ParameterSet::fromFile("/nonexistent/cfg.txt"), edm::Exception, "cannot read configuration");

  auto over = edm::ParameterSet::fromString("a.x = 1\na.typo = 2\n", "o.txt");
  over.applyOverride("a.x=5");
  CHECK(over.subset("a").getParameter<int>("x") == 5);
  CHECK(over.subset("a").origin("x") == "command line");
  const auto unused = over.unusedParameters();
  CHECK(unused.size() == 1 && unused[0] == "a.typo (o.txt:2)");
  CHECK_THROWS(over.applyOverride("novalue"), edm::Exception, "expected 'key=value'");
}

void testEvent() {
  edm::Event event(edm::EventID{42, 3});
  event.put("jets", std::make_unique<std::vector<int>>(std::vector<int>{1, 2}));
  CHECK(event.get<std::vector<int>>("jets").size() == 2);
  CHECK_THROWS(event.get<std::vector<int>>("nothing"), edm::Exception, "event 42 (index 3), label 'nothing'");
  CHECK_THROWS(event.get<std::vector<int>>("nothing"), edm::Exception, "available: jets");
  CHECK_THROWS(event.get<double>("jets"), edm::Exception, "has type std::vector<int");
  CHECK_THROWS(event.put("jets", std::make_unique<int>(1)), edm::Exception, "already put");
  try {
    event.get<double>("jets");
  } catch (const edm::Exception& e) {
    CHECK(e.category() == edm::errors::Category::WrongProductType);
  }
}

void testExactlyOnceInOrder() {
  for (unsigned streams : {1u, 2u, 3u, 8u}) {
    cachesMade = 0;
    produceCalls = 0;
    std::vector<std::uint64_t> written;
    bool committed = false;
    const auto report = runToy(streams, 200, "", written, committed);
    CHECK(cachesMade == 1);  // one global cache, whatever the number of streams
    CHECK(produceCalls == 200);
    CHECK(committed);
    CHECK(written.size() == 200);
    for (std::size_t i = 0; i < written.size(); ++i) CHECK(written[i] == i);
    CHECK(report.events == 200);
    CHECK(report.streams == streams);
    std::uint64_t sum = 0;
    for (auto n : report.eventsPerStream) sum += n;
    CHECK(sum == 200);
    CHECK(report.modules.size() == 3);
    for (const auto& m : report.modules) CHECK(m.events == 200);
  }
  std::vector<std::uint64_t> written;
  bool committed = false;
  runToy(4, 200, "", written, committed, 25);  // maxEvents
  CHECK(written.size() == 25 && committed);
}

void testErrorStopsTheJob() {
  std::vector<std::uint64_t> written;
  bool committed = false;
  CHECK_THROWS(runToy(4, 500, "square.failAt = 100\n", written, committed), std::runtime_error, "boom at 100");
  CHECK(!committed);  // the output's endJob (commit) never runs after a failure
  CHECK(written.size() <= 100);
}

/// An exception leaving a module names the module (label and type), the event and the stream;
/// framework exceptions keep their category, others are nested inside a ModuleFailure.
void testExceptionsCarryTheModuleLabel() {
  std::vector<std::uint64_t> written;
  bool committed = false;
  // a std::exception from a producer: wrapped, the original nested
  try {
    runToy(3, 300, "square.failAt = 100\n", written, committed);
    CHECK(false);
  } catch (const edm::Exception& e) {
    const std::string what = e.what();
    CHECK(e.category() == edm::errors::Category::ModuleFailure);
    CHECK(what.find("boom at 100 [while running module 'square' (SquareProducer) on event 1100 (index 100, stream ") !=
          std::string::npos);
    CHECK(e.message() == "boom at 100");
    CHECK(e.context().size() == 1);
    bool nested = false;
    try {
      std::rethrow_if_nested(e);
    } catch (const std::runtime_error& inner) {
      nested = std::string(inner.what()) == "boom at 100";
    }
    CHECK(nested);
  } catch (const std::exception& e) {
    std::cerr << "expected an edm::Exception with context, got: " << e.what() << "\n";
    CHECK(false);
  }
  CHECK(!committed);
  // an edm::Exception from a producer: same object, category kept, context appended
  written.clear();
  CHECK_THROWS(runToy(2, 50, "square.missingAt = 7\n", written, committed), edm::Exception,
               "label 'nothing': no product with this label (wanted double; available: source) [while running module "
               "'square' (SquareProducer) on event 1007 (index 7, stream ");
  try {
    written.clear();
    runToy(2, 50, "square.missingAt = 7\n", written, committed);
  } catch (const edm::Exception& e) {
    CHECK(e.category() == edm::errors::Category::ProductNotFound);
  }
  // the output module and the source are named too
  written.clear();
  CHECK_THROWS(runToy(4, 50, "out.failAt = 20\n", written, committed), edm::Exception,
               "disk full [while writing module 'out' (RecordingOutput) on event 1020 (index 20, stream ");
  CHECK(written.size() == 20 && !committed);
  written.clear();
  CHECK_THROWS(runToy(2, 50, "source.failAt = 30\n", written, committed), edm::Exception,
               "unreadable record [while reading event index 30 in source 'source' (CountingSource)]");
  CHECK(!committed);
}

/// One event stalls while the other streams run ahead: with maxEventsInFlight = B the reorder
/// buffer never holds more than B - 1 events and the other streams start at most B - 1 events
/// during the stall (they wait for the output, back-pressure); the output stays complete and in order.
void testReorderBufferIsBounded() {
  for (std::int64_t bound : {1, 3, 6}) {
    std::vector<std::uint64_t> written;
    bool committed = false;
    startedWhileStalled = -1;
    produceCalls = 0;
    const auto report = runToy(4, 200,
                               "square.stallAt = 2\nsquare.stallMs = 300\nprocess.maxEventsInFlight = " +
                                   std::to_string(bound) + "\n",
                               written, committed);
    CHECK(committed && written.size() == 200);
    for (std::size_t i = 0; i < written.size(); ++i) CHECK(written[i] == i);
    CHECK(report.maxEventsInFlight == static_cast<std::uint64_t>(bound));
    CHECK(report.peakBufferedEvents <= static_cast<std::uint64_t>(bound - 1));
    CHECK(startedWhileStalled >= 0 && startedWhileStalled <= bound - 1);
    if (report.peakBufferedEvents > static_cast<std::uint64_t>(bound - 1) || startedWhileStalled > bound - 1)
      std::cerr << "bound " << bound << ": peak buffered " << report.peakBufferedEvents << ", started while stalled "
                << startedWhileStalled << "\n";
  }
  // the default bound is 2 x streams
  std::vector<std::uint64_t> written;
  bool committed = false;
  const auto report = runToy(3, 60, "square.stallAt = 0\nsquare.stallMs = 100\n", written, committed);
  CHECK(report.maxEventsInFlight == 6 && report.peakBufferedEvents <= 5 && written.size() == 60);
  CHECK_THROWS(runToy(2, 10, "process.maxEventsInFlight = -1\n", written, committed), edm::Exception,
               "maxEventsInFlight must be >= 1");
}

}  // namespace

int main() {
  testParameterSet();
  testEvent();
  testExactlyOnceInOrder();
  testErrorStopsTheJob();
  testExceptionsCarryTheModuleLabel();
  testReorderBufferIsBounded();
  return TEST_MAIN_RESULT();
}
