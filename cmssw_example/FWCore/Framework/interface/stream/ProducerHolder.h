// The framework side of a stream producer: makes the global cache once and one module per stream.
#ifndef FWCore_Framework_stream_ProducerHolder_h
#define FWCore_Framework_stream_ProducerHolder_h

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "FWCore/Framework/interface/stream/EDProducer.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"

namespace edm::stream {

/// Type-independent interface used by the EventProcessor.
class ProducerHolderBase {
 public:
  ProducerHolderBase(std::string label, std::string type) : label_(std::move(label)), type_(std::move(type)) {}
  virtual ~ProducerHolderBase() = default;
  const std::string& label() const noexcept { return label_; }
  const std::string& type() const noexcept { return type_; }

  /// Create the global cache (once) and the module instances of `streams` streams.
  virtual void beginJob(unsigned streams) = 0;
  virtual EDProducerBase& module(unsigned stream) = 0;
  /// endStream() on every instance, then the module's globalEndJob(cache).
  virtual void endJob() = 0;

 private:
  std::string label_;
  std::string type_;
};

namespace detail {
/// Whether T has `static std::unique_ptr<C> initializeGlobalCache(const ParameterSet&, unsigned streams)`.
template <typename T, typename = void>
struct CacheTakesStreams : std::false_type {};
template <typename T>
struct CacheTakesStreams<T, std::void_t<decltype(T::initializeGlobalCache(std::declval<const ParameterSet&>(), 1u))>>
    : std::true_type {};
}  // namespace detail

/// A module may define initializeGlobalCache(pset) or initializeGlobalCache(pset, numberOfStreams)
/// (e.g. to size a model's concurrent runners to the streams that will share it).
template <typename T>
class ProducerHolder final : public ProducerHolderBase {
 public:
  using Cache = typename T::GlobalCacheType;

  /// `pset` is the module's own block (pset.subset(label)).
  ProducerHolder(std::string label, std::string type, ParameterSet pset)
      : ProducerHolderBase(std::move(label), std::move(type)), pset_(std::move(pset)) {
    T::validate(pset_);  // read and check every parameter now, before anything is loaded
  }

  void beginJob(unsigned streams) override {
    if constexpr (detail::CacheTakesStreams<T>::value) {
      cache_ = T::initializeGlobalCache(pset_, streams);
    } else {
      cache_ = T::initializeGlobalCache(pset_);
    }
    modules_.clear();
    for (unsigned s = 0; s < streams; ++s) {
      modules_.push_back(std::make_unique<T>(pset_, static_cast<const Cache*>(cache_.get())));
      modules_.back()->setModuleLabel(label());
      modules_.back()->beginStream(s);
    }
  }
  EDProducerBase& module(unsigned stream) override { return *modules_.at(stream); }
  void endJob() override {
    for (auto& m : modules_) m->endStream();
    T::globalEndJob(cache_.get());
  }

 private:
  ParameterSet pset_;
  std::unique_ptr<Cache> cache_;
  std::vector<std::unique_ptr<T>> modules_;
};

}  // namespace edm::stream

#endif  // FWCore_Framework_stream_ProducerHolder_h
