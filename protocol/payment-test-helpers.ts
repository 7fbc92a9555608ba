// Re-exports for payment tests that build tickets by hand.
export { MAX_WIN_PROB, signTicket } from './ticket.ts';
export { ticketOf } from './payment.ts';
