// edm::ServiceRegistry / edm::Service<T>: process-wide services, created once before any module.
//
// As in CMSSW, a service is an object of which the process has exactly one (threading setup,
// random numbers, message logging). The event processor creates the configured services first;
// modules reach them with
//   edm::Service<ThreadsService> threads;   if (threads.isAvailable()) threads->...;
#ifndef FWCore_ServiceRegistry_Service_h
#define FWCore_ServiceRegistry_Service_h

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>

#include "FWCore/Utilities/interface/Exception.h"

namespace edm {

class ServiceRegistry {
 public:
  static ServiceRegistry& instance() {
    static ServiceRegistry registry;
    return registry;
  }

  /// Create the one service of type T (LogicError if it already exists).
  template <typename T, typename... Args>
  T& add(Args&&... args) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = services_[std::type_index(typeid(T))];
    if (slot) throw Exception(errors::Category::LogicError, std::string("service created twice: ") + T::kName);
    auto service = std::make_shared<T>(std::forward<Args>(args)...);
    slot = service;
    return *service;
  }

  template <typename T>
  T* find() const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = services_.find(std::type_index(typeid(T)));
    return it == services_.end() ? nullptr : static_cast<T*>(it->second.get());
  }

  /// Destroy every service (end of the process; also used by tests).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    services_.clear();
  }

 private:
  ServiceRegistry() = default;
  mutable std::mutex mutex_;
  std::map<std::type_index, std::shared_ptr<void>> services_;
};

/// Handle to the process's service T (cheap to create; look-up on use).
template <typename T>
class Service {
 public:
  bool isAvailable() const { return ServiceRegistry::instance().find<T>() != nullptr; }
  T* operator->() const { return &get(); }
  T& operator*() const { return get(); }

 private:
  T& get() const {
    T* service = ServiceRegistry::instance().find<T>();
    if (service == nullptr)
      throw Exception(errors::Category::Configuration,
                      std::string("service ") + T::kName + " is required but was not configured");
    return *service;
  }
};

}  // namespace edm

#endif  // FWCore_ServiceRegistry_Service_h
