"""Events -> graphs: the graph builder (:mod:`~gvae.graphs.build`), the node-feature normalisation
(:mod:`~gvae.graphs.normalisation`) and the on-disk graph shards with their dataset
(:mod:`~gvae.graphs.shards`). Written by ``python -m gvae.data convert``; read by the train,
evaluate and export stages."""
