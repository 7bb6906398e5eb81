"""Doc stores: how document text reaches rerankers and scorers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rankkit.errors import MissingDocumentError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Ranking


class DictDocStore:
    """A doc store over an in-memory mapping of doc id to text.

    Args:
        texts: Texts by doc id.
        label: How the store is named in errors.
    """

    def __init__(self, texts: Mapping[str, str], label: str = "the in-memory doc store") -> None:
        self._texts = texts
        self.label = label

    def __len__(self) -> int:
        return len(self._texts)

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        """Texts of ``doc_ids``, in order.

        Raises:
            MissingDocumentError: Naming the first id without text.
        """
        texts = self._texts
        try:
            return [texts[d] for d in doc_ids]
        except KeyError as error:
            raise MissingDocumentError(str(error.args[0]), self.label) from None


class CorpusDocStore(DictDocStore):
    """A doc store over a dataset's corpus (title and text joined), read on first use.

    Args:
        dataset: The dataset whose corpus to serve.
    """

    def __init__(self, dataset: Dataset) -> None:
        super().__init__({}, label=f"the corpus of dataset {dataset.name!r}")
        self._dataset = dataset
        self._loaded = False

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        """Texts of ``doc_ids``; reads the corpus on the first call."""
        if not self._loaded:
            self._texts = {doc.doc_id: doc.full_text for doc in self._dataset.iter_documents()}
            self._loaded = True
        return super().get_many(doc_ids)


def attach_texts(ranking: Ranking, store: DictDocStore | CorpusDocStore) -> Ranking:
    """``ranking`` with the texts of its documents from ``store`` (unchanged when it has them)."""
    if ranking.texts is not None:
        return ranking
    return ranking.with_texts(store.get_many(ranking.doc_ids.tolist()))
