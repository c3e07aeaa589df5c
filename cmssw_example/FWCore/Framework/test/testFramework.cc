// Unit tests of the framework alone: ParameterSet, Event, EventProcessor (exactly once, in
// order, for 1..8 streams; error propagation; the global cache is made once).
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
  explicit CountingSource(std::uint64_t n) : edm::InputSource("source", "CountingSource"), n_(n) {}
  std::unique_ptr<edm::Event> readEvent() override {
    if (next_ == n_) return nullptr;
    auto event = std::make_unique<edm::Event>(edm::EventID{1000 + next_, next_});
    event->put("source", std::make_unique<std::uint64_t>(next_));
    ++next_;
    return event;
  }

 private:
  std::uint64_t n_;
  std::uint64_t next_ = 0;
};

struct SquareCache {
  std::uint64_t offset = 0;
};
std::atomic<int> cachesMade{0};
std::atomic<int> produceCalls{0};

class SquareProducer : public edm::stream::EDProducer<edm::GlobalCache<SquareCache>> {
 public:
  static void validate(const edm::ParameterSet& pset) { pset.getUntrackedParameter<std::int64_t>("failAt", -1); }
  static std::unique_ptr<SquareCache> initializeGlobalCache(const edm::ParameterSet&) {
    ++cachesMade;
    return std::make_unique<SquareCache>(SquareCache{7});
  }
  SquareProducer(const edm::ParameterSet& pset, const SquareCache* cache)
      : edm::stream::EDProducer<edm::GlobalCache<SquareCache>>(cache),
        failAt_(pset.getUntrackedParameter<std::int64_t>("failAt", -1)) {}
  void beginStream(unsigned stream) override { rng_.seed(stream); }
  void produce(edm::Event& event) override {
    ++produceCalls;
    const auto n = event.get<std::uint64_t>("source");
    if (static_cast<std::int64_t>(n) == failAt_) throw std::runtime_error("boom at " + std::to_string(n));
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 300));  // shuffle completion order
    event.put(moduleLabel(), std::make_unique<std::uint64_t>(n * n + globalCache()->offset));
  }

 private:
  std::int64_t failAt_;
  std::mt19937 rng_;
};

class RecordingOutput : public edm::OutputModule {
 public:
  RecordingOutput(std::vector<std::uint64_t>* written, bool* committed)
      : edm::OutputModule("out", "RecordingOutput"), written_(written), committed_(committed) {}
  void write(const edm::Event& event) override {
    CHECK(event.get<std::uint64_t>("square") == event.id().index * event.id().index + 7);
    written_->push_back(event.id().index);
  }
  void endJob() override { *committed_ = true; }

 private:
  std::vector<std::uint64_t>* written_;
  bool* committed_;
};

edm::TimeReport runToy(unsigned streams, std::uint64_t events, const std::string& config,
                       std::vector<std::uint64_t>& written, bool& committed, std::int64_t maxEvents = -1) {
  const auto pset = edm::ParameterSet::fromString(config, "toy");
  std::vector<std::unique_ptr<edm::stream::ProducerHolderBase>> producers;
  producers.push_back(std::make_unique<edm::stream::ProducerHolder<SquareProducer>>("square", "SquareProducer",
                                                                                   pset.subset("square")));
  edm::EventProcessor processor(edm::ProcessOptions{streams, maxEvents}, std::make_unique<CountingSource>(events),
                                std::move(producers), std::make_unique<RecordingOutput>(&written, &committed));
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

}  // namespace

int main() {
  testParameterSet();
  testEvent();
  testExactlyOnceInOrder();
  testErrorStopsTheJob();
  return TEST_MAIN_RESULT();
}
