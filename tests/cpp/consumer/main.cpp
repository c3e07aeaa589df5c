// consumer MODEL: load MODEL with libgvae, reconstruct one small jet, print a summary line.
#include <iostream>

#include <gvae/gvae.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer MODEL\n";
    return 2;
  }
  try {
    gvae::configureThreads(1, 1);
    std::shared_ptr<const gvae::Model> model = gvae::Model::load(argv[1], gvae::Device::Cpu);
    gvae::ProducerConfig config;
    config.batch_size = 4;
    const gvae::Producer producer(model, config);
    gvae::JetHits jet;
    jet.jet_id = 7;
    jet.hits = {{1, 62, 62, 25.f}, {0, 62, 63, 10.f}, {2, 60, 61, 5.f}, {1, 70, 50, 0.5f}};
    const std::vector<gvae::JetResult> out = producer.produce({jet});
    double energy = 0.0;
    for (const gvae::RecoHit& h : out.at(0).hits) energy += h.energy;
    std::cout << "gvae " << gvae::version() << " format=" << gvae::formatName(model->format())
              << " jet_id=" << out.at(0).jet_id << " n_nodes=" << out.at(0).diagnostics.n_nodes
              << " reco_hits=" << out.at(0).hits.size() << " reco_energy=" << energy << "\n";
    return out.at(0).hits.size() == 4 ? 0 : 1;
  } catch (const gvae::Error& e) {
    std::cerr << "gvae error: " << e.what() << "\n";
    return 1;
  }
}
