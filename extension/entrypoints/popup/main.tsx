import { render } from 'preact';

render(<main><h1>Conclave</h1></main>, document.getElementById('app')!);
