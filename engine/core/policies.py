"""Small policy objects the runner consults: leases and retries."""
from dataclasses import dataclass
from datetime import timedelta

from engine.core.catalog import MAX_RETRIES
from models.vocabulary import ErrorStrategy


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed step up to `max_retries` times, waiting base × 2^(n-1) seconds before retry n."""

    max_retries: int = MAX_RETRIES
    base_seconds: float = 2.0

    def should_retry(self, strategy: str, failed_attempts: int, retryable: bool) -> bool:
        return strategy == ErrorStrategy.RETRY and retryable and failed_attempts <= self.max_retries

    def delay_before_retry(self, retry_number: int) -> timedelta:
        return timedelta(seconds=self.base_seconds * (2 ** (retry_number - 1)))


@dataclass(frozen=True)
class LeasePolicy:
    """How long a claim holds before another worker may take the execution over."""

    seconds: float = 60.0

    def expiry(self, now):
        return now + timedelta(seconds=self.seconds)
