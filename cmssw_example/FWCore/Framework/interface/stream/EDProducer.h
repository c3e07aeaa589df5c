// edm::stream::EDProducer<edm::GlobalCache<C>>: one module instance per stream, one shared cache.
//
// The CMSSW pattern for ML inference: the expensive, read-only object (here the gvae model) lives
// in a GlobalCache created once per job by the module's static initializeGlobalCache(); the
// framework then constructs one module instance per stream, each given a const pointer to it.
// produce() of different streams runs concurrently, so the cache must only be read (const).
//
// A module T provides:
//   static std::unique_ptr<C> initializeGlobalCache(const edm::ParameterSet&);
//   T(const edm::ParameterSet&, const C*);
//   void produce(edm::Event&) override;
//   static void globalEndJob(const C*);        // optional: the default does nothing
//   static void validate(const edm::ParameterSet&);  // read + check every parameter, load nothing
//                                                    // (CMSSW: fillDescriptions validation)
#ifndef FWCore_Framework_stream_EDProducer_h
#define FWCore_Framework_stream_EDProducer_h

#include <string>
#include <utility>

namespace edm {

class Event;

/// Ability tag: the module keeps one shared object of type C for the whole job.
template <typename C>
struct GlobalCache {
  using type = C;
};

namespace stream {

class EDProducerBase {
 public:
  virtual ~EDProducerBase() = default;
  /// Called once per stream before its first event; `stream` is 0 .. numberOfStreams-1.
  virtual void beginStream(unsigned /*stream*/) {}
  virtual void produce(Event& event) = 0;
  virtual void endStream() {}

  /// The label this module was configured under; products are put under it.
  const std::string& moduleLabel() const noexcept { return moduleLabel_; }
  void setModuleLabel(std::string label) { moduleLabel_ = std::move(label); }  // framework only

 private:
  std::string moduleLabel_;
};

template <typename... Abilities>
class EDProducer;

template <typename C>
class EDProducer<GlobalCache<C>> : public EDProducerBase {
 public:
  using GlobalCacheType = C;
  explicit EDProducer(const C* cache) : cache_(cache) {}
  const C* globalCache() const noexcept { return cache_; }
  static void globalEndJob(const C*) {}

 private:
  const C* cache_;
};

}  // namespace stream
}  // namespace edm

#endif  // FWCore_Framework_stream_EDProducer_h
