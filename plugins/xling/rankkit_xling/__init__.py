"""rankkit-xling: cross-lingual rerankers composed from language and ranking adapters or sparse fine-tunings.

After Litschko, Vulić and Glavaš, "Parameter-Efficient Neural Reranking for
Cross-Lingual and Multilingual Retrieval" (COLING 2022). Importing this
package loads nothing heavy; torch, transformers and PEFT load when a
component trains or scores.
"""

__version__ = "0.1.0"
